"""The pytest plugin, as a user's project sees it: a temporary test project run by pytest in a
subprocess, which loads the plugin through the ``pytest11`` entry point (not through our
conftest). Its conftest registers an always-unusable backend, so the skip path is exercised on
every machine."""

import os
import subprocess
import sys
import textwrap

import pytest

import deepcore as dc

UNUSABLE_REASON = "demo backend that never runs"

CONFTEST = f'''
import deepcore as dc
from deepcore.backend import Backend, Probe


class Unusable(Backend):
    name = "unusable_demo"

    @classmethod
    def probe(cls):
        return Probe(False, "{UNUSABLE_REASON}")


dc.register_backend("unusable_demo", Unusable)
'''

TESTS = '''
import pytest
import deepcore as dc


def test_active(deepcore_backend):
    assert dc.get_backend() is deepcore_backend


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
def test_pinned(deepcore_backend):
    assert deepcore_backend.name == "numpy"
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_user.py").write_text(textwrap.dedent(TESTS))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the rootdir: not deepcore's own config
    return tmp_path


def run_pytest(project, *args):
    # The plugin must arrive through its entry point, as in a user's project: no autoload switch-off.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project, capture_output=True, text=True, timeout=300, env=env,
    )


def registered_names():
    return [record.name for record in dc.list_backends()]


def test_one_test_per_registered_backend_named_by_the_backend(project):
    result = run_pytest(project, "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    collected = {line for line in result.stdout.splitlines() if "::" in line}
    expected = {f"test_user.py::test_active[{name}]" for name in registered_names() + ["unusable_demo"]}
    assert collected == expected | {"test_user.py::test_pinned[numpy]"}


def test_unusable_backends_skip_with_their_reason(project):
    result = run_pytest(project, "-rs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"unusable_demo: {UNUSABLE_REASON}" in result.stdout
    unusable_here = [r.name for r in dc.list_backends() if not r.available]
    for name in unusable_here:
        assert f"{name}: " in result.stdout


def test_deepcore_backend_option_narrows_the_run(project):
    result = run_pytest(project, "-v", "--deepcore-backend", "numpy")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line.split(" ")[0] for line in result.stdout.splitlines() if line.startswith("test_user.py::")]
    assert ran == ["test_user.py::test_active[numpy]", "test_user.py::test_pinned[numpy]"]
    assert "1 skipped" not in result.stdout


def test_unknown_backend_is_a_usage_error_naming_the_known_ones(project):
    result = run_pytest(project, "--deepcore-backend", "no_such_backend")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "no_such_backend" in result.stderr and "numpy" in result.stderr


def test_deepcore_device_option_moves_a_backend(project):
    (project / "test_device.py").write_text(textwrap.dedent('''
        def test_device(deepcore_backend):
            print("DEVICE", deepcore_backend.device)
    '''))
    default = run_pytest(project, "-s", "test_device.py", "--deepcore-backend", "array_api_strict")
    moved = run_pytest(project, "-s", "test_device.py", "--deepcore-backend", "array_api_strict",
                       "--deepcore-device", "array_api_strict=device2")
    assert default.returncode == 0 and moved.returncode == 0, default.stdout + moved.stdout
    assert "DEVICE array_api_strict.Device('device1')" in default.stdout
    assert "DEVICE array_api_strict.Device('device2')" in moved.stdout


def test_malformed_deepcore_device_is_a_usage_error(project):
    result = run_pytest(project, "--deepcore-device", "torch")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "BACKEND=DEVICE" in result.stderr
