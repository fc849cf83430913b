"""The BLAS limit: only the 8 GEMMs of the MLP's training steps, nothing else.

Forward: h1 = x W1, h2 = h1 W2, z = h2 W3. Backward: dW3 = h2^T dz, dh2 = dz W3^T,
dW2 = h1^T dh2, dh1 = dh2 W2^T, dW1 = x^T dh1 (no dx of the first layer). Operands are
preallocated and results written into buffers, so this is the floor a training step can reach.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from benchmarks.sizes import Sizes
from benchmarks.timing import Case


def eight_gemms(sizes: Sizes, make: Callable[[tuple], Any],
                matmul: Callable[[Any, Any, Any], Any]) -> Callable[[], None]:
    """A function doing one epoch's worth (``samples / batch`` steps) of the 8 GEMMs."""
    b, i, h, c = sizes.batch, sizes.inputs, sizes.width, sizes.classes
    x, w1, w2, w3 = make((b, i)), make((i, h)), make((h, h)), make((h, c))
    h1, h2, z, dz = make((b, h)), make((b, h)), make((b, c)), make((b, c))
    dh2, dh1, dw1, dw2, dw3 = make((b, h)), make((b, h)), make((i, h)), make((h, h)), make((h, c))
    steps = -(-sizes.samples // b)

    def epoch():
        for _ in range(steps):
            matmul(x, w1, h1)
            matmul(h1, w2, h2)
            matmul(h2, w3, z)
            matmul(h2.T, dz, dw3)
            matmul(dz, w3.T, dh2)
            matmul(h1.T, dh2, dw2)
            matmul(dh2, w2.T, dh1)
            matmul(x.T, dh1, dw1)

    return epoch


def numpy_gemm_limit(sizes: Sizes) -> Case:
    """The 8 GEMMs with ``np.matmul(..., out=)`` (the NumPy backend's BLAS)."""
    rng = np.random.default_rng(0)
    run = eight_gemms(sizes, lambda shape: rng.standard_normal(shape, dtype=np.float32),
                      lambda a, b, out: np.matmul(a, b, out=out))
    return Case("numpy GEMMs only", run, sizes.samples)
