"""NumPy on the CPU: always available, the reference backend."""

import numpy as np

from deepcore.backend import Backend, Probe


class NumpyBackend(Backend):
    name = "numpy"
    priority = 50
    install_hint = "pip install numpy"

    @classmethod
    def probe(cls) -> Probe:
        return Probe(True, "", ("cpu",))

    def _load(self, device):
        import array_api_compat.numpy as xp

        if device not in (None, "cpu"):
            raise ValueError(f"Backend 'numpy' has only the device 'cpu'; received device={device!r}.")
        return xp, "cpu"

    def asarray(self, host_array, dtype=None):
        return np.asarray(host_array, dtype=dtype)

    def to_numpy(self, array):
        return np.asarray(array)

    def scatter_add(self, target, indices, values):
        result = target.copy()
        np.add.at(result, indices, values)
        return result

    def describe(self):
        from threadpoolctl import threadpool_info

        blas = [f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)" for i in threadpool_info()]
        return {**super().describe(), "numpy": np.__version__, "blas": blas}
