"""Shared shapes for benchmarks: every module ``bench/bench_*.py`` defines ``run(quick) -> list[Result]``.

A result is a measurement next to a baseline measured in the same run, their ratio, the goal the
issue states, and whether the goal was met. ``python -m bench`` runs every module and rewrites
``docs/benchmarks.md``.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Result:
    name: str                 # what was measured, e.g. "first line -> on_output latency"
    measured: float           # our number
    baseline: float           # the baseline's number, same unit, same run
    unit: str                 # "ms", "MB/s", "MB", "s", "events/s"
    goal: str                 # the goal in words, e.g. "<= 2x baseline"
    met: bool                 # whether the goal holds for these numbers
    baseline_name: str = ""   # what the baseline is, e.g. "bare asyncio pipe read"
    notes: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline if self.baseline else float("inf")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = round(self.ratio, 3)
        return d


def median_of(fn: Callable[[], float], repeat: int) -> float:
    """Median of ``repeat`` calls of ``fn`` (each returns one sample)."""
    return statistics.median(fn() for _ in range(repeat))


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def quick_mode() -> bool:
    return os.environ.get("BENCH_QUICK") == "1"
