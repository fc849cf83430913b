"""deepcore's own test configuration: ``--backend NAME`` and the ``backend`` fixture.

The parametrization and skipping live in `deepcore.testing.pytest_plugin` (loaded through the
``pytest11`` entry point), which users get for their own test suites too.
"""

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
