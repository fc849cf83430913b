"""The backend registry: discovery, selection, scoping, errors, plugins, floatx and seeding."""

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import types

import numpy as np
import pytest

import deepcore as dc
from deepcore import registry
from deepcore.backend import BackendUnavailableError
from deepcore.backends.cupy_backend import CupyBackend
from deepcore.layers import Dense
from deepcore.models import Sequential
from deepcore.testing.pytest_plugin import TEST_DEVICES

BUILT_INS = ("numpy", "cupy", "torch", "array_api_strict")
CUPY_INSTALLED = importlib.util.find_spec("cupy") is not None
TORCH_INSTALLED = importlib.util.find_spec("torch") is not None
requires_torch = pytest.mark.skipif(
    not TORCH_INSTALLED, reason='torch is not installed (pip install "deepcore[torch]")'
)


def run_python(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (deepcore not yet imported) and return the result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPCORE_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
        timeout=120,
    )


def record(name: str) -> registry.BackendRecord:
    return next(r for r in dc.list_backends() if r.name == name)


@pytest.fixture
def restore_default(monkeypatch):
    """Undo any `set_backend` a test makes (monkeypatch restores the saved value)."""
    monkeypatch.setattr(registry, "_default", registry.get_backend())


@pytest.fixture
def fresh_probes(monkeypatch):
    """Empty probe and instance caches for the test, the real ones restored afterwards."""
    monkeypatch.setattr(registry, "_probe_cache", {})
    monkeypatch.setattr(registry, "_instances", {})


def small_model() -> Sequential:
    return Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])


# --- discovery ----------------------------------------------------------------------------

def test_list_backends_records():
    records = dc.list_backends()
    names = [r.name for r in records]
    assert set(BUILT_INS) <= set(names)
    assert len(names) == len(set(names))
    for r in records:
        assert isinstance(r.available, bool)
        assert isinstance(r.reason, str)
        assert isinstance(r.devices, tuple)
        if r.available:
            assert r.reason == "" and len(r.devices) >= 1
        else:
            assert r.reason, f"unusable backend {r.name} gives no reason"
    assert record("numpy").available and record("numpy").devices == ("cpu",)
    if TORCH_INSTALLED:
        assert record("torch").devices[0] == "cpu"
    assert "device1" in record("array_api_strict").devices


def test_available_backends_order_and_cupy():
    available = dc.available_backends()
    assert available == [r.name for r in dc.list_backends() if r.available]
    cpu_ones = [name for name in available if name != "cupy"]
    expected = ["numpy", "torch", "array_api_strict"] if TORCH_INSTALLED else ["numpy", "array_api_strict"]
    assert cpu_ones[:len(expected)] == expected
    if not CUPY_INSTALLED:
        assert "cupy" not in available
        assert record("cupy").reason == "cupy is not installed"
    elif record("cupy").available:
        assert available[0] == "cupy"


def test_auto_resolves_to_numpy_without_a_gpu():
    expected = "cupy" if record("cupy").available else "numpy"
    assert registry.make_backend("auto").name == expected
    with dc.use_backend("auto") as backend:
        assert backend.name == expected


# --- selection and scoping ------------------------------------------------------------------

@requires_torch
def test_use_backend_nests_and_restores():
    outer = dc.get_backend()
    with dc.use_backend("torch") as torch_backend:
        assert dc.get_backend() is torch_backend and torch_backend.name == "torch"
        with dc.use_backend("array_api_strict", device="device1") as strict:
            assert dc.get_backend() is strict
            assert str(strict.device) == str(strict.xp.Device("device1"))
        assert dc.get_backend() is torch_backend
    assert dc.get_backend() is outer


@requires_torch
def test_use_backend_restores_on_exception():
    default = dc.get_backend()
    with dc.use_backend("array_api_strict", device="device2") as outer:
        with pytest.raises(KeyError, match="boom"):
            with dc.use_backend("torch"):
                with dc.use_backend("numpy"):
                    raise KeyError("boom")
        assert dc.get_backend() is outer
    assert dc.get_backend() is default


@requires_torch
def test_use_backend_accepts_a_backend_object():
    torch_backend = registry.make_backend("torch")
    with dc.use_backend(torch_backend) as active:
        assert active is torch_backend and dc.get_backend() is torch_backend


@requires_torch
def test_set_backend_is_process_wide(restore_default):
    seen = {}

    def read_from_thread(key):
        thread = threading.Thread(target=lambda: seen.__setitem__(key, dc.get_backend().name))
        thread.start()
        thread.join()

    returned = dc.set_backend("torch")
    assert returned.name == "torch" and dc.get_backend() is returned
    read_from_thread("after_set")
    with dc.use_backend("array_api_strict"):
        # a scope is local to this thread's context; other threads still see the default
        read_from_thread("inside_scope")
        assert dc.get_backend().name == "array_api_strict"
    assert seen == {"after_set": "torch", "inside_scope": "torch"}
    assert dc.get_backend().name == "torch"


@requires_torch
def test_backend_objects_are_cached_per_device():
    assert registry.make_backend("torch") is registry.make_backend("torch")
    a = registry.make_backend("array_api_strict", "device1")
    b = registry.make_backend("array_api_strict", "device2")
    assert a is not b and a.device != b.device


@pytest.mark.parametrize("env, expected", [
    pytest.param({"DEEPCORE_BACKEND": "torch"}, ["torch", "cpu"], marks=requires_torch),
    ({"DEEPCORE_BACKEND": "array_api_strict", "DEEPCORE_DEVICE": "device1"},
     ["array_api_strict", "array_api_strict.Device('device1')"]),
    ({}, None),  # no variable: auto
    ({"DEEPCORE_BACKEND": "auto"}, None),
])
def test_environment_variables_select_the_backend(env, expected):
    if expected is None:
        expected = ["cupy", "0"] if record("cupy").available else ["numpy", "cpu"]
    result = run_python("""
        import json, deepcore as dc
        b = dc.get_backend()
        print(json.dumps([b.name, str(getattr(b.device, "id", b.device))]))  # cupy: Device.id
    """, env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


def test_explicit_call_beats_environment_variable():
    result = run_python("""
        import deepcore as dc
        dc.set_backend("numpy")
        print(dc.get_backend().name)
    """, {"DEEPCORE_BACKEND": "torch"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


def test_environment_device_error_is_clear():
    result = run_python("import deepcore as dc; dc.get_backend()",
                        {"DEEPCORE_BACKEND": "numpy", "DEEPCORE_DEVICE": "gpu"})
    assert result.returncode != 0
    assert "Backend 'numpy' has only the device 'cpu'; received device='gpu'" in result.stderr


# --- errors ----------------------------------------------------------------------------------

def test_unknown_backend_lists_known_names():
    with pytest.raises(ValueError, match="Unknown backend 'jax'") as info:
        dc.set_backend("jax")
    for name in ("auto",) + BUILT_INS:
        assert name in str(info.value)


def test_unusable_backend_names_it_the_reason_and_the_extra(monkeypatch, fresh_probes):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "cupy" else real_find_spec(name, *a))
    with pytest.raises(BackendUnavailableError) as info:
        dc.set_backend("cupy")
    message = str(info.value)
    assert "'cupy'" in message
    assert "cupy is not installed" in message
    assert 'pip install "deepcore[cuda12]"' in message
    assert not record("cupy").available


@pytest.mark.parametrize("name, device, fragment", [
    ("numpy", "gpu", "received device='gpu'"),
    ("array_api_strict", "device9", "no device 'device9'; known: ['CPU_DEVICE', 'device1'"),
    pytest.param("torch", "cuda:3", "CUDA device 3 requested but", marks=requires_torch),
])
def test_unknown_device_errors(name, device, fragment):
    if name == "torch":
        import torch

        if torch.cuda.device_count() > 3:
            pytest.skip("this machine has a cuda:3, so it is not an unknown device here")
    with pytest.raises(ValueError, match=f"Backend '{name}'") as info:
        with dc.use_backend(name, device=device):
            pass
    assert fragment in str(info.value)


# --- the CuPy probe, with a fake cupy module --------------------------------------------------

def fake_cupy(get_device_count) -> types.ModuleType:
    """A module named cupy whose ``cuda.runtime.getDeviceCount`` is ``get_device_count``."""
    module = types.ModuleType("cupy")
    module.__spec__ = importlib.machinery.ModuleSpec("cupy", loader=None)  # found by find_spec
    module.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    return module


DRIVER_ERROR = "cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version"


def raise_driver_error():
    raise RuntimeError(DRIVER_ERROR)


def test_cupy_probe_reports_the_driver_error(monkeypatch, fresh_probes):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(raise_driver_error))
    probe = CupyBackend.probe()
    assert not probe.available
    assert DRIVER_ERROR in probe.reason and "RuntimeError" in probe.reason
    assert record("cupy").reason == probe.reason
    assert "cupy" not in dc.available_backends()
    with pytest.raises(BackendUnavailableError) as info:
        registry.make_backend("cupy")
    assert DRIVER_ERROR in str(info.value) and "deepcore[cuda12]" in str(info.value)
    assert registry.make_backend("auto").name == "numpy"


def test_cupy_probe_with_zero_devices(monkeypatch, fresh_probes):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(lambda: 0))
    probe = CupyBackend.probe()
    assert not probe.available and probe.reason == "no CUDA device found"
    assert registry.make_backend("auto").name == "numpy"


def test_cupy_probe_with_two_devices(monkeypatch, fresh_probes):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(lambda: 2))
    assert CupyBackend.probe() == dc.Probe(True, "", (0, 1))
    assert dc.available_backends()[0] == "cupy"


def test_fresh_probes_fixture_restores_the_caches():
    # runs after the fake-cupy tests: the real probe must be back in place
    assert record("cupy").available == (CUPY_INSTALLED and CupyBackend.probe().available)


# --- plugins and lazy imports ------------------------------------------------------------------

TOY_MODULE = '''
"""A third-party backend: NumPy through the base class's portable defaults."""
from deepcore.backend import Backend, Probe

transfers = 0


class ToyBackend(Backend):
    name = "toy"
    priority = 1
    install_hint = "pip install toyplugin"

    @classmethod
    def probe(cls):
        return Probe(True, "", ("cpu",))

    def _load(self, device):
        import array_api_compat.numpy as xp
        return xp, "cpu"

    def asarray(self, host_array, dtype=None):
        global transfers
        transfers += 1
        return super().asarray(host_array, dtype)
'''


def test_plugin_registered_through_an_entry_point(tmp_path):
    (tmp_path / "toy_backend.py").write_text(TOY_MODULE)
    dist_info = tmp_path / "toyplugin-0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplugin\nVersion: 0.0\n")
    (dist_info / "entry_points.txt").write_text("[deepcore.backends]\ntoy = toy_backend:ToyBackend\n")
    result = run_python("""
        import json
        import numpy as np
        import deepcore as dc
        import toy_backend

        records = {r.name: [r.available, r.reason, list(r.devices)] for r in dc.list_backends()}
        with dc.use_backend("toy"):
            model = dc.models.Sequential([dc.layers.Dense(1, input_shape=(3,))])
            model.compile(optimizer="sgd", loss="mse")
            x = np.random.default_rng(0).normal(size=(64, 3))
            history = model.fit(x, x @ np.array([1.0, -2.0, 0.5]), epochs=5, verbose=0)
        print(json.dumps({
            "records": records, "available": dc.available_backends(),
            "model_backend": model.backend.name, "transfers": toy_backend.transfers,
            "loss": history.history["loss"],
        }))
    """, {"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["records"]["toy"] == [True, "", ["cpu"]]
    assert out["available"][-1] == "toy"  # lowest priority
    assert out["model_backend"] == "toy"
    assert out["transfers"] > 0
    assert out["loss"][-1] < out["loss"][0]


def test_import_deepcore_imports_neither_cupy_nor_torch():
    result = run_python("""
        import json, sys
        import numpy as np
        import deepcore as dc
        for name in ("layers", "models", "optimizers", "losses", "metrics", "callbacks",
                     "activations", "initializers", "utils"):
            getattr(dc, name)
        from deepcore.models import Sequential
        from deepcore.layers import Dense
        heavy = lambda: sorted(m for m in sys.modules if m.split(".")[0] in ("cupy", "torch"))
        after_import = heavy()
        model = Sequential([Dense(2, input_shape=(3,))])
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
        print(json.dumps([after_import, heavy(), dc.get_backend().name]))
    """)
    assert result.returncode == 0, result.stderr
    after_import, after_training, name = json.loads(result.stdout)
    assert after_import == []
    if name == "numpy":  # training on the default CPU backend needs neither library
        assert after_training == []


# --- floatx ------------------------------------------------------------------------------------

def test_floatx_default_and_invalid():
    assert dc.floatx() == "float32"
    with pytest.raises(ValueError, match="'float16'.*float32.*float64"):
        dc.set_floatx("float16")
    assert dc.floatx() == "float32"


def test_set_floatx_float64_makes_float64_weights(backend):
    dc.set_floatx("float64")  # the autouse fixture in conftest.py resets it
    model = small_model()
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert all(v.value.dtype == backend.xp.float64 for v in model.weights)
    assert model.predict(np.ones((2, 3), dtype=np.float32), verbose=0).dtype == np.float64
    dc.set_floatx("float32")
    assert all(w.dtype == np.float32 for w in small_model().get_weights())


# --- seeding -----------------------------------------------------------------------------------

def initial_weights(name: str, seed: int) -> list[np.ndarray]:
    dc.utils.set_random_seed(seed)
    with dc.use_backend(name, device=TEST_DEVICES.get(name)):
        return small_model().get_weights()


@pytest.mark.parametrize("name", [n for n in dc.available_backends() if n != "numpy"])
def test_same_seed_gives_bit_identical_initial_weights(name):
    reference = initial_weights("numpy", 42)
    weights = initial_weights(name, 42)
    assert [w.dtype for w in weights] == [w.dtype for w in reference]
    for got, want in zip(weights, reference):
        np.testing.assert_array_equal(got, want)  # bit-identical: no tolerance
    assert not np.array_equal(initial_weights("numpy", 43)[0], reference[0])
