"""Keep freed host memory in the process from one training step to the next (glibc on Linux).

Every training step allocates its temporaries afresh, and a CNN's are megabytes each (patches,
activations, their gradients). glibc's malloc serves such blocks with ``mmap``, or from the top
of its heap, which it trims back to the system as soon as enough is freed there; the next step
then faults every page in again and the kernel zeroes each one. On the CNN benchmark (batch 64,
2 cores) that was ~30% of the step: 28 -> 20 ms with the settings below, while the MLP, the
LSTM and torch in the same process did not change (their blocks are smaller or reused).

The CPU backends call `tune` when they load. It raises glibc's mmap threshold to 32 MiB (the
ceiling of glibc's own adaptive threshold) and its trim threshold to 256 MiB, so blocks up to
32 MiB come from the heap and up to 256 MiB of free heap is kept for reuse. This is
process-wide. Nothing changes when ``DEEPCORE_HOST_ALLOCATOR=system`` is set, when the
process already chose through glibc's ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``
variables, or when the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
OPT_OUT_VARIABLE = "DEEPCORE_HOST_ALLOCATOR"
GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

# mallopt's parameter numbers, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_outcome: str | None = None


def tune() -> str:
    """Apply the settings once per process; return what was done (also on later calls)."""
    global _outcome
    if _outcome is None:
        _outcome = _apply()
    return _outcome


def _apply() -> str:
    if os.environ.get(OPT_OUT_VARIABLE, "").lower() == "system":
        return f"C library defaults ({OPT_OUT_VARIABLE}=system)"
    chosen = [name for name in GLIBC_VARIABLES if name in os.environ]
    if chosen:
        return f"C library settings from {', '.join(chosen)}"
    libc = _glibc()
    if libc is None:
        return "C library defaults (not glibc)"
    if not (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return "C library defaults (glibc refused mallopt)"
    return f"glibc: mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB"


def _glibc():
    """glibc's ``libc.so.6`` when this process runs on glibc, else None."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (AttributeError, ValueError, OSError):  # no confstr (Windows) or no such name (macOS, musl)
        return None
    return ctypes.CDLL("libc.so.6")
