"""Repeated timing with warm-up: median, min and max of a rate or a duration.

Implementations of one workload are timed round-robin (A, B, C, A, B, C, ...), so a change
of load on the machine during the run hits all of them alike and their ratios stay fair.
Before each timed run the process idles for `SETTLE_SECONDS`: OpenBLAS and OpenMP worker
threads keep spinning for a while after their last call and would otherwise take a core
from the next implementation.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

SETTLE_SECONDS = 0.2


@dataclass
class Measurement:
    """One implementation's figures for one workload (``values``: every timed repeat)."""

    impl: str
    median: float
    min: float
    max: float
    values: list[float]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Case:
    """One implementation of a workload: ``run()`` does ``work`` units (samples, steps)."""

    impl: str
    run: Callable[[], object]
    work: float
    synchronize: Callable[[], None] = lambda: None


def summarize(impl: str, values: list[float]) -> Measurement:
    return Measurement(impl, statistics.median(values), min(values), max(values), list(values))


def rates(cases: list[Case], repeats: int, warmup: int) -> list[Measurement]:
    """Units per second of each case: ``warmup`` untimed runs each, then ``repeats`` timed
    rounds in which every case runs once (``synchronize`` waits for queued device work)."""
    for case in cases:
        for _ in range(warmup):
            case.run()
        case.synchronize()
    values: dict[str, list[float]] = {case.impl: [] for case in cases}
    for _ in range(repeats):
        for case in cases:
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            case.run()
            case.synchronize()
            values[case.impl].append(case.work / (time.perf_counter() - start))
    return [summarize(case.impl, values[case.impl]) for case in cases]
