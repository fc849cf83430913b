"""Whole-process figures: start-up wall time, and peak resident memory of workload 1.

Each measurement runs in a fresh interpreter, so imports are cold in-process (the OS file
cache is warm after the warm-up run) and the peak RSS belongs to one library alone.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.timing import Measurement, summarize

REPO = Path(__file__).resolve().parents[1]
SEED_EXAMPLE = REPO / "examples" / "seed_example.py"

# Used when examples/seed_example.py is absent: the seed network on 1000 random samples.
INLINE_SEED_PROGRAM = """
import numpy as np
from deepcore.models import Sequential
from deepcore.layers import Dense
rng = np.random.default_rng(0)
X = rng.standard_normal((1000, 10)).astype("float32")
y = (X[:, 0] + X[:, 1] > 0).astype("float32")
model = Sequential()
model.add(Dense(10, activation="relu", input_shape=(10,)))
model.add(Dense(10, activation="relu"))
model.add(Dense(1, activation="sigmoid"))
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(X, y, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
print(model.evaluate(X, y, verbose=0))
"""


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def compile_bytecode() -> bool:
    """Write the ``.pyc`` files of deepcore and its backends, as ``pip install`` does for an
    installed package (torch's came with its install). A source checkout that writes none
    (``PYTHONDONTWRITEBYTECODE=1``, or no write access) would otherwise compile every module
    at every start: ~0.1 s of ``import deepcore`` measured here. True when all compiled."""
    import compileall

    import deepcore
    import deepcore.backends

    return all(compileall.compile_dir(Path(package.__file__).parent, quiet=1)
               for package in (deepcore, deepcore.backends))


def wall_time(impl: str, command: list[str], repeats: int, warmup: int) -> tuple[Measurement, Measurement]:
    """Seconds from starting ``command`` to its exit (output discarded), and the CPU seconds
    (user + system) it used: on a loaded machine the wall time grows, the CPU time hardly."""
    wall, cpu = [], []
    for i in range(warmup + repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=REPO, env=_child_env())
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i >= warmup:
            wall.append(elapsed)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return summarize(impl, wall), summarize(impl, cpu)


def seed_example_command() -> tuple[list[str], str]:
    """The seed example as a program, and where it came from."""
    if SEED_EXAMPLE.exists():
        return [sys.executable, str(SEED_EXAMPLE)], str(SEED_EXAMPLE.relative_to(REPO))
    return [sys.executable, "-c", INLINE_SEED_PROGRAM], "inline equivalent (examples/seed_example.py is missing)"


def peak_rss(impl: str, threads: int, tiny: bool) -> dict:
    """Run `benchmarks.peak_rss` for ``impl`` ("deepcore" or "torch") in a fresh process."""
    command = [sys.executable, "-m", "benchmarks.peak_rss", impl, "--threads", str(threads)]
    if tiny:
        command.append("--tiny")
    result = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO, env=_child_env())
    return json.loads(result.stdout.strip().splitlines()[-1])
