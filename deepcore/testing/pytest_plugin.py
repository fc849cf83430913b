"""pytest plugin (entry point ``pytest11``): run a test once per registered deepcore backend.

A test that takes the ``deepcore_backend`` fixture runs once per registered backend, with the
backend's name as the test id (``test_fit[numpy]``, ``test_fit[torch]``...); those unusable
here are skipped with their reason (shown by ``pytest -rs``). ``--deepcore-backend NAME``
(repeatable) restricts the run; an unknown name is a usage error listing the known ones.
Inside the test the backend is active (`use_backend`); array-api-strict runs on its emulated
``device1``. A test can pin its own list with
``@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)``.
Disable the plugin with ``-p no:deepcore``.
"""

from __future__ import annotations

import pytest

# Backends tested on a non-default device: array-api-strict's emulated "device1" catches any
# array created without an explicit device.
TEST_DEVICES = {"array_api_strict": "device1"}


def pytest_addoption(parser):
    parser.getgroup("deepcore").addoption(
        "--deepcore-backend", action="append", default=None, metavar="NAME",
        help="run deepcore backend-parametrized tests on this backend only (repeatable, or "
             "comma-separated: numpy,torch)",
    )
    parser.getgroup("deepcore").addoption(
        "--deepcore-device", action="append", default=None, metavar="BACKEND=DEVICE",
        help="run that backend's tests on this device, e.g. torch=cuda:0 or cupy=1 (repeatable)",
    )


def test_devices(config) -> dict:
    """The device each backend is tested on: `TEST_DEVICES`, overridden by ``--deepcore-device``."""
    devices = dict(TEST_DEVICES)
    for item in config.getoption("--deepcore-device") or []:
        name, separator, device = item.partition("=")
        if not separator or not name or not device:
            raise pytest.UsageError(f"--deepcore-device expects BACKEND=DEVICE; received {item!r}.")
        devices[name.strip()] = int(device) if device.strip().isdigit() else device.strip()
    return devices


def selected_backends(config) -> list[str]:
    """Registered backend names, narrowed by ``--deepcore-backend`` (or ``--backend``)."""
    from deepcore.registry import list_backends

    names = [record.name for record in list_backends()]
    wanted = config.getoption("--deepcore-backend") or []
    try:
        wanted = wanted + (config.getoption("--backend") or [])
    except ValueError:  # --backend is only defined by deepcore's own test suite
        pass
    wanted = [name.strip() for item in wanted for name in item.split(",") if name.strip()]
    if not wanted:
        return names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise pytest.UsageError(f"Unknown deepcore backend(s) {unknown}; registered: {names}.")
    return [name for name in names if name in wanted]


def pytest_configure(config):
    selected_backends(config)  # an unknown --deepcore-backend name stops the run here (exit 4)
    test_devices(config)


def pytest_generate_tests(metafunc):
    if "deepcore_backend" in metafunc.fixturenames and not _pinned(metafunc):
        metafunc.parametrize("deepcore_backend", selected_backends(metafunc.config), indirect=True)


def _pinned(metafunc) -> bool:
    """True when the test parametrizes ``deepcore_backend`` itself."""
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if "deepcore_backend" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return True
    return False


@pytest.fixture
def deepcore_backend(request):
    """The active backend for this test; skips with the reason when it is unusable here."""
    from deepcore.registry import list_backends, use_backend

    name = request.param
    records = {record.name: record for record in list_backends()}
    if name not in records:
        pytest.fail(f"Unknown deepcore backend {name!r}; registered: {sorted(records)}.", pytrace=False)
    record = records[name]
    if not record.available:
        pytest.skip(f"{name}: {record.reason}")
    with use_backend(name, device=test_devices(request.config).get(name)) as backend:
        yield backend
