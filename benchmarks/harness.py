"""The small shared harness of the performance benchmarks: time things, summarize, print ONE line.

Every script in benchmarks/ ends with `emit({...})`, so a run's output is a single JSON line that
CI, a spreadsheet or `jq` can read; anything else a script wants to say goes to stderr. Timings
are wall-clock (`time.perf_counter`), because what users feel is latency, not CPU time.

    from harness import timed, measure, summarize, peak_rss_mb, emit
    samples = measure(lambda: do_work(), repeat=20, warmup=2)
    emit({"bench": "work", **summarize(samples), "peak_rss_mb": peak_rss_mb()})
"""

from __future__ import annotations

import inspect
import json
import math
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class Timer:
    """Seconds elapsed inside a `with timed() as t:` block, readable as `t.seconds` afterwards."""

    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Timer]:
    timer = Timer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - start


def measure(fn: Callable[[], Any], *, repeat: int = 10, warmup: int = 1) -> list[float]:
    """Seconds per call of a sync function; warm-up calls (caches, imports) are not counted."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        with timed() as t:
            fn()
        samples.append(t.seconds)
    return samples


async def ameasure(
    fn: Callable[[], Awaitable[Any]], *, repeat: int = 10, warmup: int = 1
) -> list[float]:
    """Seconds per call of an async function, awaited one at a time."""
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(repeat):
        with timed() as t:
            result = fn()
            if inspect.isawaitable(result):
                await result
        samples.append(t.seconds)
    return samples


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between the closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * p / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


def summarize(samples: Sequence[float], *, unit: str = "s", digits: int = 4) -> dict[str, Any]:
    """n, min, median, p90, p95, max and mean of some samples, keys suffixed with the unit."""
    if not samples:
        return {"n": 0}
    stats = {
        "min": min(samples),
        "median": median(samples),
        "p90": percentile(samples, 90),
        "p95": percentile(samples, 95),
        "max": max(samples),
        "mean": sum(samples) / len(samples),
    }
    return {"n": len(samples), **{f"{k}_{unit}": round(v, digits) for k, v in stats.items()}}


def peak_rss_mb(*, children: bool = False) -> float:
    """Peak resident memory of this process (or of its waited-for children), in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    kib = resource.getrusage(who).ru_maxrss  # KiB on Linux, bytes on macOS
    if sys.platform == "darwin":
        kib //= 1024
    return round(kib / 1024, 1)


def emit(record: dict[str, Any]) -> None:
    """Print the benchmark's one JSON line on stdout and flush it."""
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()
