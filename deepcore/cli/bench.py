"""``deepcore bench``: run the benchmarks of a source checkout (same as ``python -m benchmarks``).

    deepcore bench                      # every workload, full sizes, table + JSON
    deepcore bench --workloads mlp_train tiny_train --repeats 7
    deepcore bench --help               # all options

The benchmarks live in the repository's ``benchmarks/`` folder, next to the ``deepcore``
package; they are not part of an installed wheel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmark deepcore against PyTorch eager (source checkout)",
                                   description=__doc__.split("\n\n")[0])
    runner = _load_runner()
    if runner is not None:
        runner.add_arguments(parser)
    parser.set_defaults(func=lambda args: run(args, runner))


def run(args: argparse.Namespace, runner: ModuleType | None) -> int:
    if runner is None:
        raise SystemExit(
            f"deepcore bench needs the benchmarks/ folder of a source checkout; none next to {_checkout()}. "
            "Clone the deepcore repository, install it with `pip install -e .`, and run "
            "`deepcore bench` (or `python -m benchmarks` from the repository root)."
        )
    return runner.run(args)


def _checkout() -> Path:
    import deepcore

    return Path(deepcore.__file__).resolve().parents[1]


def _load_runner() -> ModuleType | None:
    """``benchmarks.runner`` from the checkout holding this deepcore package, or None."""
    checkout = _checkout()
    if not (checkout / "benchmarks" / "runner.py").is_file():
        return None
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    from benchmarks import runner

    return runner
