"""Child process: train workload 1 (the MLP) and print the peak resident set size as JSON.

``python -m benchmarks.peak_rss deepcore|torch [--threads N] [--tiny]``. Only the library
measured is imported, so its peak is not inflated by the other one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.sizes import FULL, TINY
from benchmarks.threads import limit_threads


def _max_rss_bytes() -> int:
    """This process's peak RSS. Not ``getrusage``: on Linux its maxrss survives ``exec`` and
    so includes the parent's peak; ``VmHWM`` belongs to this program's memory alone."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError("/proc/self/status has no VmHWM line: peak RSS needs Linux.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("impl", choices=("deepcore", "torch"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    sizes = TINY if args.tiny else FULL
    limit_threads(args.threads, torch=args.impl == "torch")
    if args.impl == "deepcore":
        from benchmarks import deepcore_workloads

        after_import = _max_rss_bytes()
        case = deepcore_workloads.mlp_train("numpy", sizes)
    else:
        from benchmarks import torch_reference

        after_import = _max_rss_bytes()
        case = torch_reference.mlp_train(sizes)
    for _ in range(sizes.rss_epochs):
        case.run()
    print(json.dumps({"impl": args.impl, "peak_rss_bytes": _max_rss_bytes(), "after_import_rss_bytes": after_import}))


if __name__ == "__main__":
    main()
