"""One thread count for every library in the process: NumPy's BLAS and PyTorch's pool."""

from __future__ import annotations


def limit_threads(threads: int, torch: bool = True) -> None:
    """Use ``threads`` BLAS/OpenMP threads from now on (PyTorch only when ``torch``)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    if torch:
        import torch as torch_module

        torch_module.set_num_threads(threads)


def describe() -> list[str]:
    """The native thread pools loaded now: library, version, kernel and thread count."""
    from threadpoolctl import threadpool_info

    return [
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')} "
        f"({i.get('num_threads')} threads, {i.get('prefix')})".replace("  ", " ")
        for i in threadpool_info()
    ]
