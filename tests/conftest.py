"""deepcore's own test configuration: ``--backend NAME`` and the ``backend`` fixture.

The parametrization and skipping live in `deepcore.testing.pytest_plugin` (loaded through the
``pytest11`` entry point), which users get for their own test suites too.
"""

from types import SimpleNamespace

import pytest

import deepcore as dc


def pytest_addoption(parser):
    parser.addoption(
        "--backend", action="append", default=None, metavar="NAME",
        help="run backend-parametrized tests on this backend only (repeatable), e.g. --backend cupy",
    )


@pytest.fixture
def backend(deepcore_backend):
    """The active backend (numpy, torch, cupy, array_api_strict on its emulated device1)."""
    return deepcore_backend


@pytest.fixture(autouse=True)
def _fresh_settings():
    """Every test starts with float32 and a fixed seed, and cannot leak a changed floatx."""
    dc.set_floatx("float32")
    dc.utils.set_random_seed(1234)
    yield
    dc.set_floatx("float32")


@pytest.fixture
def compiled_kernels(monkeypatch) -> dict:
    """The NumPy backend's compiled kernels routed through call counters: the returned dict
    maps each kernel's name to its calls so far. Skips without Numba."""
    from deepcore.backends import numba_kernels

    pytest.importorskip("numba", reason="numba is not installed: the compiled kernels are off")
    kernels, calls = numba_kernels.load(), {}
    if kernels is None:
        pytest.skip("DEEPCORE_NUMBA=0 turns the compiled kernels off")

    def counting(name):
        def kernel(*args):
            calls[name] = calls.get(name, 0) + 1
            return getattr(kernels, name)(*args)
        return kernel

    counted = SimpleNamespace(**{name: counting(name) for name in vars(kernels)})
    monkeypatch.setattr(numba_kernels, "load", lambda: counted)
    return calls


@pytest.fixture
def without_compiled_kernels(monkeypatch) -> None:
    """The NumPy backend as without Numba: its own NumPy code instead of compiled kernels."""
    from deepcore.backends import numba_kernels

    monkeypatch.setattr(numba_kernels, "load", lambda: None)
