"""Cross-backend consistency tools, gradient checks, and the pytest plugin.

- `compare_backends` / `assert_backends_close`: run one model on several backends from the same
  weights and compare every layer output, loss, gradient and trained weight (`Report`).
- `check_backward`: a hand-written backward pass against finite differences.
- The pytest plugin (`deepcore.testing.pytest_plugin`, registered as a ``pytest11`` entry point):
  the ``deepcore_backend`` fixture and ``--deepcore-backend``.

See docs/consistency.md for what the tolerances mean and which differences to expect.
"""

from deepcore.testing.compare import (
    DEFAULT_FACTOR,
    GOLDEN,
    assert_backends_close,
    compare_backends,
    default_rtol,
)
from deepcore.testing.gradients import check_backward, numerical_gradient
from deepcore.testing.report import Comparison, Report, compare_arrays

__all__ = [
    "DEFAULT_FACTOR", "GOLDEN", "assert_backends_close", "compare_backends", "default_rtol",
    "check_backward", "numerical_gradient", "Comparison", "Report", "compare_arrays",
]
