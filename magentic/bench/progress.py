"""What a person sees while a suite runs.

On a terminal: a live, transient rich bar (done, correct so far, running, elapsed) that
vanishes when the run ends, leaving the summary table. In a log file (a batch job): one plain
line per finished task on stderr, because a redrawn bar is noise there. With `--json`:
nothing, so stdout carries only the final JSON line.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from magentic.bench.results import TaskResult


class _Tally:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.correct = 0
        self.scored = 0
        self.running: set[tuple[str, int]] = set()

    def start(self, task_id: str, repeat: int) -> None:
        self.running.add((task_id, repeat))

    def finish(self, result: TaskResult) -> None:
        self.running.discard(result.key)
        self.done += 1
        if result.correct is not None:
            self.scored += 1
            self.correct += int(result.correct)


class NoProgress(_Tally):
    """Counts only; the base of the visible kinds, and what the runner takes."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def started(self, task_id: str, repeat: int) -> None:
        self.start(task_id, repeat)

    def finished(self, result: TaskResult) -> None:
        self.finish(result)


class LineProgress(NoProgress):
    """One line per finished task, for logs."""

    def __init__(self, total: int, stream: object = None) -> None:
        super().__init__(total)
        self._stream = stream or sys.stderr

    def finished(self, result: TaskResult) -> None:
        self.finish(result)
        verdict = {True: "correct", False: "wrong", None: "unscored"}[result.correct]
        if result.status != "answered":
            verdict += f", {result.status}"
        print(
            f"[{self.done}/{self.total}] {result.task_id} r{result.repeat}: {verdict} "
            f"({result.seconds:.1f} s)",
            file=self._stream,  # type: ignore[arg-type]
            flush=True,
        )


class RichProgress(NoProgress):
    def __init__(self, total: int, console: Console) -> None:
        super().__init__(total)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            # rich's default is 10 redraws a second, each a table layout: a few percent of a
            # core for a bar that changes when a task starts or ends (and the clock ticks)
            refresh_per_second=4,
        )
        self._bar = self._progress.add_task("bench", total=total, detail="")

    def __enter__(self) -> RichProgress:
        self._progress.start()
        self._refresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def started(self, task_id: str, repeat: int) -> None:
        self.start(task_id, repeat)
        self._refresh()

    def finished(self, result: TaskResult) -> None:
        self.finish(result)
        self._refresh()

    def _refresh(self) -> None:
        score = f"{self.correct}/{self.scored} correct" if self.scored else "none scored yet"
        self._progress.update(
            self._bar,
            completed=self.done,
            description="bench",
            detail=f"{score}, {len(self.running)} running",
        )


def make_progress(total: int, console: Console, *, json_output: bool) -> NoProgress:
    if json_output:
        return NoProgress(total)
    if console.is_terminal:
        return RichProgress(total, console)
    return LineProgress(total)
