"""array-api-strict: the standard's reference namespace.

Running deepcore on it proves the core uses nothing outside the standard; its emulated
devices (``device1``, ``device2``) prove no array silently lands on the default device, and
its ``no_float64`` device checks float32-only hardware.
"""

import importlib.util

import numpy as np

from deepcore.backend import Backend, Probe


class ArrayApiStrictBackend(Backend):
    name = "array_api_strict"
    priority = 10
    install_hint = 'pip install "deepcore[strict]"'

    @classmethod
    def probe(cls) -> Probe:
        if importlib.util.find_spec("array_api_strict") is None:
            return Probe(False, "array-api-strict is not installed")
        import array_api_strict as xp

        devices = tuple(_device_name(d) for d in xp.__array_namespace_info__().devices())
        return Probe(True, "", devices)

    def _load(self, device):
        import array_api_strict as xp

        name = "CPU_DEVICE" if device in (None, "cpu") else str(device)
        try:
            return xp, xp.Device(name)
        except ValueError:
            known = [_device_name(d) for d in xp.__array_namespace_info__().devices()]
            raise ValueError(f"Backend 'array_api_strict' has no device {device!r}; known: {known}.") from None

    def to_numpy(self, array):
        host = array.to_device(self.xp.Device("CPU_DEVICE"))
        return np.asarray(host)


def _device_name(device) -> str:
    """``Device('device1')`` -> ``"device1"`` (the name its constructor takes)."""
    return repr(device).split("'")[1]
