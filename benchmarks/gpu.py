"""Workload 7: the MLP at width 4096, batch 1024, on a CUDA device: deepcore on CuPy (and on
torch CUDA) next to PyTorch eager CUDA in float32, and PyTorch's float16/bfloat16 autocast."""

from __future__ import annotations

import deepcore as dc
from benchmarks import deepcore_workloads, torch_reference
from benchmarks.sizes import Sizes
from benchmarks.timing import Case

FLOATX_NOTE = "deepcore trains in float32/float64 only (dc.set_floatx); float16/bfloat16 rows are PyTorch's"


def unavailable_reason() -> str | None:
    """Why the GPU workload cannot run here, or None when a CUDA device answers."""
    record = next((r for r in dc.list_backends() if r.name == "cupy"), None)
    if record is None:
        return "the cupy backend is not registered"
    if not record.available:
        return f"cupy backend unusable: {record.reason}"
    return None


def _torch_cuda() -> bool:
    ok, _ = torch_reference.available()
    if not ok:
        return False
    import torch

    return torch.cuda.is_available()


def gpu_mlp(sizes: Sizes) -> list[Case]:
    """MLP training at ``gpu_width``/``gpu_batch`` on CUDA device 0, one epoch per run."""
    common = dict(width=sizes.gpu_width, batch=sizes.gpu_batch, samples=sizes.gpu_samples)
    cases = [deepcore_workloads.mlp_train("cupy", sizes, **common)]
    if _torch_cuda():
        import torch

        cases.append(deepcore_workloads.mlp_train("torch", sizes, device="cuda", **common))
        dtypes = ["float32", "float16"] + (["bfloat16"] if torch.cuda.is_bf16_supported() else [])
        cases += [torch_reference.mlp_train(sizes, device="cuda", dtype=dtype, **common) for dtype in dtypes]
    return cases
