"""Small real solvers for runner tests: they do the work a task asks for, never look up truths.

`solve` handles three local-suite tasks the way a script would (fetch the page over HTTP
and read the table, read the attached PDF's text, add up the attached CSV) and answers
"unknown" to the rest, so a runner test sees right and wrong answers that it did not write.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path

import httpx

from magentic.bench.runner import TaskOutcome
from magentic.bench.suite import BenchTask

LOCAL_SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "suites" / "local"
SOLVABLE = ("web-station-elevation", "file-minutes-treasurer", "code-transactions-total")


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None


async def _elevation(task: BenchTask) -> str:
    url = re.search(r"https?://\S+?\.html", task.question).group(0)  # type: ignore[union-attr]
    name = re.search(r"of the (.+?) weather station", task.question.replace("\n", " "))
    async with httpx.AsyncClient() as client:
        page = (await client.get(url)).raise_for_status().text
    parser = _Rows()
    parser.feed(page)
    header, *rows = parser.rows
    wanted = " ".join(name.group(1).split()) if name else ""
    row = next(r for r in rows if r[header.index("Station")] == wanted)
    return row[header.index("Elevation (m)")]


def _treasurer(task: BenchTask) -> str:
    from markitdown import MarkItDown

    assert task.file_path is not None
    text = " ".join(MarkItDown().convert(str(task.file_path)).text_content.split())
    return re.search(r"([A-Z]\w+ [A-Z]\w+) was elected treasurer", text).group(1)  # type: ignore[union-attr]


def _csv_total(task: BenchTask) -> str:
    assert task.file_path is not None
    with task.file_path.open(newline="") as handle:
        cents = sum(round(float(row["amount_usd"]) * 100) for row in csv.DictReader(handle))
    return f"{cents / 100:.2f}"


async def solve(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
    """Answer three kinds of task for real; say "unknown" to the others."""
    if task.task_id == "web-station-elevation":
        answer = await _elevation(task)
    elif task.task_id == "file-minutes-treasurer":
        answer = await asyncio.to_thread(_treasurer, task)
    elif task.task_id == "code-transactions-total":
        answer = await asyncio.to_thread(_csv_total, task)
    else:
        answer = "unknown"
    trace = workdir / "trace.jsonl"
    trace.write_text(f'{{"task": "{task.task_id}", "repeat": {repeat}}}\n')
    return TaskOutcome(
        answer=f"I looked it up.\nFINAL ANSWER: {answer}",
        stop_reason="answered",
        rounds=1 + len(answer) % 3,
        prompt_tokens=100 + len(task.question),
        completion_tokens=len(answer),
        cost=0.001,
        trace_path=trace,
        reasoning=f"solved {task.task_id} by script",
    )


Solver = Callable[[BenchTask, int, Path], Awaitable[TaskOutcome]]


class SolveRunner:
    """`solve` as a runner that a Ray node's factory can make (callable, closable); its
    reasoning names the attachment it read, so a test can see whose copy that was."""

    async def __call__(self, task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        outcome = await solve(task, repeat, workdir)
        outcome.reasoning += f"; attachment {task.file_path}"
        return outcome

    async def close(self) -> None:
        return None


class UnbuildableRunner(SolveRunner):
    """A runner a node cannot make (as when a node lacks a part the team needs)."""

    def __init__(self) -> None:
        raise RuntimeError("this node cannot build a runner")


# What code in a task's sandbox can leave in its workspace: links out of the folder.
LINKS = {
    "web-station-elevation": ("passwd", "/etc/passwd"),  # absolute
    "file-minutes-treasurer": ("up", "../../../../../../../../etc"),  # escaping
}


class LinkingRunner(SolveRunner):
    """`solve`, then a link in the task's workspace for the tasks in LINKS (and a harmless
    link inside the folder for the others, which must come back as it is)."""

    async def __call__(self, task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        outcome = await super().__call__(task, repeat, workdir)
        workspace = workdir / "workspace"
        workspace.mkdir(parents=True, exist_ok=True)
        (workspace / "notes.txt").write_text("kept\n")
        name, target = LINKS.get(task.task_id, ("same-notes.txt", "notes.txt"))
        (workspace / name).symlink_to(target)
        return outcome
