"""pytest plugin (entry point ``pytest11``): run a test once per usable deepcore backend.

A test that takes the ``deepcore_backend`` fixture runs on every registered backend; those
unusable here are skipped with their reason (see ``pytest -rs``). ``--deepcore-backend NAME``
(repeatable) restricts the run. Inside the test the backend is active (`use_backend`).
"""

from __future__ import annotations

import pytest

# Backends tested on a non-default device: array-api-strict's emulated "device1" catches any
# array created without an explicit device.
TEST_DEVICES = {"array_api_strict": "device1"}


def pytest_addoption(parser):
    parser.addoption(
        "--deepcore-backend", action="append", default=None, metavar="NAME",
        help="run deepcore backend-parametrized tests on this backend only (repeatable)",
    )


def selected_backends(config) -> list[str]:
    """Registered backend names, narrowed by ``--deepcore-backend`` (or ``--backend``)."""
    from deepcore.registry import list_backends

    names = [record.name for record in list_backends()]
    wanted = config.getoption("--deepcore-backend") or []
    try:
        wanted = wanted + (config.getoption("--backend") or [])
    except ValueError:  # --backend is only defined by deepcore's own test suite
        pass
    if not wanted:
        return names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise pytest.UsageError(f"Unknown deepcore backend(s) {unknown}; registered: {names}.")
    return [name for name in names if name in wanted]


def pytest_generate_tests(metafunc):
    if "deepcore_backend" in metafunc.fixturenames:
        metafunc.parametrize("deepcore_backend", selected_backends(metafunc.config), indirect=True)


@pytest.fixture
def deepcore_backend(request):
    """The active backend for this test; skips with the reason when it is unusable here."""
    from deepcore.registry import list_backends, use_backend

    name = request.param
    record = next(r for r in list_backends() if r.name == name)
    if not record.available:
        pytest.skip(f"{name}: {record.reason}")
    with use_backend(name, device=TEST_DEVICES.get(name)) as backend:
        yield backend
