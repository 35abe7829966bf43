"""A bench run in a process of its own, for tests that kill it or press Ctrl-C.

    python -m tests.bench.child OUT FINISH

Runs the local suite with `solve`, at concurrency 2; after FINISH tasks have ended, every
further task blocks forever, so the parent can kill or interrupt the run at a known point.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from magentic.bench.runner import BenchOptions, TaskOutcome, bench_main
from magentic.bench.suite import BenchTask

from .solvers import LOCAL_SUITE, solve


def main() -> int:
    out, finish = Path(sys.argv[1]), int(sys.argv[2])
    started = 0

    async def run_one(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        nonlocal started
        started += 1
        if started > finish:
            (workdir / "blocked").write_text("waiting to be stopped\n")
            await asyncio.Event().wait()
        return await solve(task, repeat, workdir)

    options = BenchOptions(suite=LOCAL_SUITE, out=out, concurrency=2, resume=True)
    return asyncio.run(bench_main(options, run_one))


if __name__ == "__main__":
    raise SystemExit(main())
