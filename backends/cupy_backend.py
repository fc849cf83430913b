"""CuPy on a CUDA GPU. Usable only when a CUDA device answers, not merely when cupy imports."""

import importlib.util
import os
import warnings

from deepcore.backend import Backend, Probe


def tf32_enabled() -> bool:
    """Whether CuPy computes float32 matmuls in TF32 (10-bit mantissa) on Ampere+ GPUs: it does
    when ``CUPY_TF32`` is a positive integer (off by default), unless ``NVIDIA_TF32_OVERRIDE=0``."""
    requested = os.environ.get("CUPY_TF32", "0").strip()
    return requested.isdigit() and int(requested) > 0 and os.environ.get("NVIDIA_TF32_OVERRIDE") != "0"


class CupyBackend(Backend):
    name = "cupy"
    priority = 100
    install_hint = (
        'pip install "deepcore[cuda12]" (or "deepcore[cuda13]") on a machine with an NVIDIA '
        "GPU and driver"
    )

    @classmethod
    def probe(cls) -> Probe:
        if importlib.util.find_spec("cupy") is None:
            return Probe(False, "cupy is not installed")
        try:
            import cupy

            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError, ImportError of libcuda, ...
            return Probe(False, f"no usable CUDA device ({type(exc).__name__}: {exc})")
        if count == 0:
            return Probe(False, "no CUDA device found")
        return Probe(True, "", tuple(range(count)))

    def _load(self, device):
        import array_api_compat.cupy as xp
        import cupy

        index = 0 if device is None else int(str(device).removeprefix("cuda:"))
        count = cupy.cuda.runtime.getDeviceCount()
        if not 0 <= index < count:
            raise ValueError(f"Backend 'cupy': CUDA device {index} requested but {count} device(s) exist.")
        if tf32_enabled():
            warnings.warn(
                "CUPY_TF32 is set: float32 matmuls run in TF32 and differ from NumPy by ~1e-3 "
                "relative. Unset CUPY_TF32 for full float32 precision (see docs/consistency.md).",
                RuntimeWarning, stacklevel=2,
            )
        return xp, cupy.cuda.Device(index)

    def activate(self):
        self.device.use()

    def asarray(self, host_array, dtype=None):
        with self.device:
            return self.xp.asarray(host_array, dtype=dtype)

    def to_numpy(self, array):
        return array.get()

    def synchronize(self):
        self.device.synchronize()

    def scatter_add(self, target, indices, values):
        import cupyx

        result = target.copy()
        cupyx.scatter_add(result, indices, values)
        return result

    def adam_update(self, value, gradient, m, v, alpha, beta_1, beta_2, epsilon, v_hat=None):
        if v_hat is not None:  # AMSGrad keeps the portable path; plain Adam gets one kernel
            return super().adam_update(value, gradient, m, v, alpha, beta_1, beta_2, epsilon, v_hat)
        scalar = value.dtype.type
        _adam_kernel()(gradient, scalar(alpha), scalar(1.0 - beta_1), scalar(1.0 - beta_2), scalar(epsilon),
                       value, m, v)

    def make_collectives(self, comm):
        """NCCL on the device (bootstrapped over MPI) when CuPy has it; else MPI via the host."""
        from cupy.cuda import nccl

        from deepcore.distribution.collectives import MPICollectives, NCCLCollectives

        return NCCLCollectives(comm, self) if nccl.available else MPICollectives(comm, self)

    def describe(self):
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(self.device.id)
        return {
            **super().describe(),
            "cupy": cupy.__version__,
            "gpu": props["name"].decode(),
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "tf32": tf32_enabled(),
        }


_ADAM_KERNEL = None


def _adam_kernel():
    """`Backend.adam_update`'s formula as one elementwise CUDA kernel (one pass over memory
    instead of ~12), in place on ``value``, ``m`` and ``v``; compiled on first use."""
    global _ADAM_KERNEL
    if _ADAM_KERNEL is None:
        import cupy

        _ADAM_KERNEL = cupy.ElementwiseKernel(
            "T g, T alpha, T one_minus_beta_1, T one_minus_beta_2, T epsilon",
            "T value, T m, T v",
            """
            m += (g - m) * one_minus_beta_1;
            v += (g * g - v) * one_minus_beta_2;
            value -= (m * alpha) / (sqrt(v) + epsilon);
            """,
            "deepcore_adam",
        )
    return _ADAM_KERNEL
