"""The benchmark entry point: ``python -m benchmarks`` and ``deepcore bench``.

Runs the chosen workloads (all by default) for deepcore on every usable backend and for
PyTorch eager, in this one process (start-up and peak memory in child processes), prints a
table with absolute figures and ratios, and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path
from typing import Callable

import numpy as np

import deepcore as dc
from deepcore.backends import numba_kernels
from benchmarks import deepcore_workloads, gemms, gpu, process, torch_reference
from benchmarks.report import Section, table, write_json
from benchmarks.sizes import FULL, TINY, Sizes
from benchmarks.threads import describe as describe_threads
from benchmarks.threads import limit_threads
from benchmarks.timing import Case, rates, summarize

RESULTS = Path(__file__).resolve().parent / "results"
TORCH = "torch eager"
MiB = 2**20


class Run:
    """What every workload needs: sizes, repeats, warm-up, the deepcore backends, torch."""

    def __init__(self, sizes: Sizes, repeats: int, warmup: int, backends: list[str], threads: int):
        self.sizes, self.repeats, self.warmup, self.backends, self.threads = sizes, repeats, warmup, backends, threads
        self.torch_ok, self.torch_reason = torch_reference.available()

    def measure(self, section: Section, deepcore_case: Callable[[str, Sizes], Case] | None,
                *torch_cases: Callable[[], Case], other: tuple[Case, ...] = ()) -> Section:
        """Time deepcore on every backend, ``other`` cases and the torch cases, round-robin."""
        cases = [deepcore_case(name, self.sizes) for name in self.backends] if deepcore_case else []
        cases += list(other)
        if self.torch_ok:
            cases += [make() for make in torch_cases]
        elif torch_cases:
            section.extra["torch"] = f"skipped: {self.torch_reason}"
        section.results = rates(cases, self.repeats, self.warmup)
        return section


def mlp_train(run: Run) -> Section:
    s = run.sizes
    section = Section("mlp_train", f"MLP {s.inputs}-{s.width}-{s.width}-{s.classes} training, Adam, "
                      f"batch {s.batch}, {s.samples} samples", "samples/s", reference=TORCH,
                      goal="deepcore numpy >= 1.0x torch eager")
    return run.measure(section, deepcore_workloads.mlp_train, lambda: torch_reference.mlp_train(s),
                       lambda: torch_reference.mlp_train(s, fused=True))


def cnn_train(run: Run) -> Section:
    s = run.sizes
    section = Section("cnn_train", f"CNN {s.image}x{s.image}x1 conv32-pool-conv64-pool-dense{s.classes} "
                      f"training, Adam, batch {s.cnn_batch}, {s.cnn_samples} samples", "samples/s",
                      reference=TORCH, goal="deepcore numpy >= 0.7x torch eager (stretch 1.0x)")
    section.extra["layout"] = "deepcore channels_last (NHWC); torch NCHW"
    return run.measure(section, deepcore_workloads.cnn_train, lambda: torch_reference.cnn_train(s))


def lstm_train(run: Run) -> Section:
    s = run.sizes
    section = Section("lstm_train", f"LSTM({s.lstm_units}) on {s.seq_steps} steps x {s.seq_features} features "
                      f"- dense{s.classes} training, Adam, batch {s.seq_batch}, {s.seq_samples} samples",
                      "samples/s", reference=TORCH, goal="deepcore numpy >= 0.7x torch eager (stretch 1.0x)")
    return run.measure(section, deepcore_workloads.lstm_train, lambda: torch_reference.lstm_train(s))


def tiny_train(run: Run) -> Section:
    s = run.sizes
    section = Section("tiny_train", f"seed network 10-10-10-1 training, BCE, Adam, batch {s.tiny_batch}",
                      "steps/s", reference=TORCH, goal="deepcore numpy >= 5x torch eager")
    return run.measure(section, deepcore_workloads.tiny_train, lambda: torch_reference.tiny_train(s))


def mlp_predict(run: Run) -> Section:
    s = run.sizes
    section = Section("mlp_predict", f"MLP inference, batch {s.predict_batch}", "samples/s", reference=TORCH,
                      goal="deepcore numpy >= 0.9x torch eager")
    return run.measure(section, deepcore_workloads.mlp_predict, lambda: torch_reference.mlp_predict(s))


def blas_limit(run: Run) -> Section:
    s = run.sizes
    section = Section("blas_limit", f"only the 8 GEMMs of the MLP's training steps, batch {s.batch}",
                      "samples/s", reference="torch GEMMs only")
    return run.measure(section, None, lambda: torch_reference.gemm_limit(s), other=(gemms.numpy_gemm_limit(s),))


def process_start(run: Run) -> Section:
    section = Section("process_start", "wall time of a fresh interpreter running ...", "s",
                      higher_is_better=False, reference="import torch",
                      goal="import deepcore < 0.3 s; seed example <= 0.6 s")
    python = sys.executable
    compiled = process.compile_bytecode()
    section.extra["bytecode"] = ("deepcore's compiled first, as pip install does" if compiled
                                 else "deepcore's could not all be compiled: its imports include compiling")
    seed_command, seed_source = process.seed_example_command()
    commands = [("python -c pass", [python, "-c", "pass"]),
                ("import deepcore", [python, "-c", "import deepcore"])]
    if run.torch_ok:
        commands.append(("import torch", [python, "-c", "import torch"]))
    commands.append(("seed example", seed_command))
    for label, command in commands:
        wall, cpu = process.wall_time(label, command, run.repeats, run.warmup)
        section.results.append(wall)
        section.extra[f"{label}: cpu s (user+sys), median"] = round(cpu.median, 3)
    section.extra["seed example"] = seed_source
    return section


def peak_rss(run: Run) -> Section:
    section = Section("peak_rss", f"peak RSS while training workload 1 for {run.sizes.rss_epochs} epoch(s), "
                      "each in its own process", "MiB", higher_is_better=False, reference="torch eager",
                      goal="deepcore numpy <= torch eager")
    if not Path("/proc/self/status").exists():
        section.skipped = "peak RSS is read from /proc/self/status (VmHWM), which only Linux has"
        return section
    impls = [("deepcore", "deepcore numpy")] + ([("torch", "torch eager")] if run.torch_ok else [])
    for impl, label in impls:
        figures = process.peak_rss(impl, run.threads, run.sizes is TINY)
        section.results.append(summarize(label, [figures["peak_rss_bytes"] / MiB]))
        section.extra[f"{label} RSS after import"] = f"{figures['after_import_rss_bytes'] / MiB:.0f} MiB"
    return section


def gpu_mlp(run: Run) -> Section:
    s = run.sizes
    section = Section("gpu_mlp", f"MLP {s.inputs}-{s.gpu_width}-{s.gpu_width}-{s.classes} training on CUDA, "
                      f"batch {s.gpu_batch}", "samples/s", reference="torch eager cuda")
    section.skipped = gpu.unavailable_reason()
    if section.skipped is None:
        section.results = rates(gpu.gpu_mlp(s), run.repeats, run.warmup)
        section.extra["note"] = gpu.FLOATX_NOTE
    return section


def denormal_run(run: Run) -> Section:
    s = run.sizes
    section = Section("denormal_run", f"MLP training, {s.denormal_epochs} epochs after half the first "
                      "layer's units died (Adam moments decay towards denormals)", "samples/s",
                      reference="torch eager, last epochs", goal="last epochs as fast as the first")
    runs = [lambda name=name: deepcore_workloads.denormal_run(name, s) for name in run.backends if name == "numpy"]
    if run.torch_ok:
        runs.append(lambda: torch_reference.denormal_run(s))
    for measure in runs:
        first, last, denormals = measure()
        section.results += [first, last]
        section.extra[f"{last.impl.split(',')[0]}: denormals in optimizer state at the end"] = denormals
    return section


WORKLOADS: dict[str, Callable[[Run], Section]] = {
    "mlp_train": mlp_train, "tiny_train": tiny_train, "mlp_predict": mlp_predict, "blas_limit": blas_limit,
    "process_start": process_start, "peak_rss": peak_rss, "gpu_mlp": gpu_mlp, "denormal_run": denormal_run,
    "cnn_train": cnn_train, "lstm_train": lstm_train,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, default=None,
                        help=f"where to write the results (default: {RESULTS}/bench-<time>.json)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before them (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="BLAS/OpenMP threads for every library (default: the CPU count)")
    parser.add_argument("--backends", nargs="+", default=None, metavar="NAME",
                        help="deepcore backends to run (default: every usable one)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS),
                        metavar="NAME", help=f"which workloads (default all: {', '.join(WORKLOADS)})")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks that the benchmark runs")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args``; print the table; write the JSON."""
    if args.repeats < 1 or args.warmup < 0:
        raise SystemExit(f"--repeats must be >= 1 and --warmup >= 0; received {args.repeats} and {args.warmup}.")
    usable = dc.available_backends()
    backends = args.backends or usable
    unusable = sorted(set(backends) - set(usable))
    if unusable:
        raise SystemExit(f"deepcore backend(s) {unusable} are not usable here; usable: {usable}.")
    ok, _ = torch_reference.available()
    limit_threads(args.threads, torch=ok)
    sizes = TINY if args.tiny else FULL
    context = Run(sizes, args.repeats, args.warmup, backends, args.threads)
    sections = []
    for name in args.workloads:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        sections.append(WORKLOADS[name](context))
    _add_blas_efficiency(sections)
    path = args.json or RESULTS / f"bench-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(path, _meta(args, sizes, backends), sections)
    print(table(sections))
    print(f"\nNumPy backend's compiled kernels: {numba_kernels.status()}")
    print(f"JSON written to {path}")
    return 0


def _add_blas_efficiency(sections: list[Section]) -> None:
    """Training throughput as a fraction of the same library's GEMMs-only throughput."""
    by_name = {s.name: s for s in sections}
    if "mlp_train" not in by_name or "blas_limit" not in by_name:
        return
    medians = {r.impl: r.median for s in (by_name["mlp_train"], by_name["blas_limit"]) for r in s.results}
    for train, gemm in (("deepcore numpy", "numpy GEMMs only"), (TORCH, "torch GEMMs only")):
        if train in medians and gemm in medians:
            by_name["mlp_train"].extra[f"{train} / {gemm}"] = round(medians[train] / medians[gemm], 3)


def _meta(args: argparse.Namespace, sizes: Sizes, backends: list[str]) -> dict:
    ok, _ = torch_reference.available()
    versions = {"python": platform.python_version(), "numpy": np.__version__, "deepcore": dc.__version__}
    if ok:
        import torch

        versions["torch"] = torch.__version__
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(), "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
        "tiny": args.tiny, "sizes": sizes.as_dict(), "backends": backends, "versions": versions,
        "thread_pools": describe_threads(), "dtype": "float32", "numpy_compiled_kernels": numba_kernels.status(),
        "environment": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                                   "OMP_NUM_THREADS", "DEEPCORE_NUMBA") if k in os.environ},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
