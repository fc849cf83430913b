"""PyTorch tensors, on the CPU or a CUDA device, through array-api-compat."""

import importlib.util

from deepcore import host_memory
from deepcore.backend import Backend, Probe, patches_from_window_view


class TorchBackend(Backend):
    name = "torch"
    priority = 20
    install_hint = 'pip install "deepcore[torch]"'

    @classmethod
    def probe(cls) -> Probe:
        if importlib.util.find_spec("torch") is None:
            return Probe(False, "torch is not installed")
        import torch

        devices = ("cpu",) + tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
        return Probe(True, "", devices)

    def _load(self, device):
        import array_api_compat.torch as xp
        import torch

        resolved = torch.device(f"cuda:{device}" if isinstance(device, int) else device or "cpu")
        if resolved.type == "cuda":
            count = torch.cuda.device_count()
            index = resolved.index or 0
            if index >= count:
                raise ValueError(
                    f"Backend 'torch': CUDA device {index} requested but {count} device(s) exist."
                )
            # Keep float32 matmuls in full precision so results compare with NumPy.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        else:
            host_memory.tune()
        return xp, resolved

    def asarray(self, host_array, dtype=None):
        # torch cannot wrap a NumPy view with negative strides (e.g. x[::-1]): copy those.
        strides = getattr(host_array, "strides", None)
        if strides is not None and any(stride < 0 for stride in strides):
            host_array = host_array.copy()
        return super().asarray(host_array, dtype)

    def to_numpy(self, array):
        return array.detach().cpu().numpy()

    def synchronize(self):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def scatter_add(self, target, indices, values):
        return target.index_add(0, indices, values)

    def argmax(self, x, axis):
        # On the CPU torch.argmax along an inner axis is ~20x slower than max(dim); both return
        # the first maximum.
        import torch

        return torch.max(x, dim=axis).indices

    def extract_patches(self, x, windows, strides, dilations):
        # unfold makes strided window views (one stack of copies per offset is ~7x slower on CPU).
        view = x
        for axis, (window, stride, dilation) in enumerate(zip(windows, strides, dilations), start=1):
            view = view.unfold(axis, (window - 1) * dilation + 1, stride)
        return patches_from_window_view(self.xp, view, dilations, x.shape[-1])

    def describe(self):
        import torch

        facts = {**super().describe(), "torch": torch.__version__, "threads": torch.get_num_threads()}
        if self.device.type == "cpu":
            facts["host_allocator"] = host_memory.tune()
        return facts
