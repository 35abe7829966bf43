"""Runs and benches on disk, as the web view sees them: found under roots, read forgivingly.

A trace being written may end in half a line: reading stops before it and returns the offset
to resume from, so a follower picks the line up whole on its next read. A line that is not
JSON, or an event this version does not know (an older or newer trace), is kept as a note
instead of failing the page.

The view shows only what it can vouch for (`Library`): code in the sandbox writes each run's
`workspace/`, and a `trace.jsonl` it plants there must not pass for a run. So a run or bench
folder is one the walk from a root reaches without entering `workspace`, `attachments` or
`.git`, without following a link, through folders owned by this user (or root) that others
cannot write; its `trace.jsonl` or `results.jsonl` is a regular file of the same owners.

A run without `run_finished` is running only while the process writing it lives: the trace
writer's `writer.json` names that process, and `judge` calls a run whose process is gone
"died" (see `magentic.trace.owner`).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from magentic.events import Event, load_event
from magentic.trace import owner

TRACE = "trace.jsonl"
RESULTS = "results.jsonl"
_MAX_DEPTH = 4  # runs/<id>/trace.jsonl, OUT/work/<task>/trace.jsonl and the like
# Never entered: the sandbox writes workspaces; attachments and .git hold no runs.
_NEVER = frozenset({"workspace", "attachments", ".git"})


@dataclass
class Unknown:
    """A trace line that is JSON but not an event this version reads."""

    kind: str
    data: dict[str, Any]
    problem: str


@dataclass
class Chunk:
    """What one read of a growing file gave: whole lines parsed, where to resume, problems."""

    items: list[Any] = field(default_factory=list)
    offset: int = 0
    unreadable: int = 0
    partial: bool = False  # the file ends in a line not yet whole (being written, or cut off)


def read_lines(path: Path, offset: int = 0, end: int | None = None) -> tuple[list[bytes], int]:
    """Whole lines from `offset` on (up to `end`), and the offset after the last whole one."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read() if end is None else handle.read(max(0, end - offset))
    except OSError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    return data[: end + 1].splitlines(), offset + end + 1


def _has_tail(path: Path, offset: int) -> bool:
    try:
        return path.stat().st_size > offset
    except OSError:
        return False


def read_events(path: Path, offset: int = 0, end: int | None = None) -> Chunk:
    lines, new_offset = read_lines(path, offset, end)
    chunk = Chunk(offset=new_offset, partial=end is None and _has_tail(path, new_offset))
    for line in lines:
        if not line.strip():
            continue
        try:
            chunk.items.append(load_event(line))
            continue
        except (ValidationError, ValueError) as error:
            problem = str(error).splitlines()[0]
        try:
            data = json.loads(line)
        except ValueError:
            chunk.unreadable += 1
            continue
        if not isinstance(data, dict):
            chunk.unreadable += 1
            continue
        chunk.items.append(Unknown(str(data.get("kind", "?")), data, problem))
    return chunk


def read_results(path: Path, offset: int = 0) -> Chunk:
    lines, new_offset = read_lines(path, offset)
    chunk = Chunk(offset=new_offset)
    for line in lines:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            chunk.unreadable += 1
            continue
        if isinstance(data, dict) and "task_id" in data:
            chunk.items.append(data)
        else:
            chunk.unreadable += 1
    return chunk


@dataclass
class RunSummary:
    """One line of the runs list."""

    ref: str
    task: str = ""
    status: str = "running"
    rounds: int = 0
    seconds: float = 0.0
    cost: float = 0.0
    started: float = 0.0


def summarize(ref: str, items: list[Any]) -> RunSummary:
    summary = RunSummary(ref)
    rounds = 0
    for item in items:
        if not isinstance(item, Event):
            continue
        kind = item.kind
        if kind == "run_started":
            summary.task = getattr(item, "task", "")
            summary.started = item.t
        elif kind == "delegated":
            rounds = max(rounds, getattr(item, "round", 0))
        elif kind == "model_called":
            summary.cost += getattr(item, "cost", 0.0)
        elif kind == "run_resumed":  # `magentic resume`: live again after its stop
            summary.status = "running"
        elif kind == "run_finished":
            summary.status = getattr(item, "status", "finished")
            rounds = getattr(item, "rounds", rounds)
            summary.seconds = getattr(item, "seconds", 0.0)
            summary.cost = getattr(item, "cost", summary.cost)
    if summary.status == "running" and items:
        last = items[-1]
        summary.seconds = max(0.0, getattr(last, "t", summary.started) - summary.started)
    summary.rounds = rounds
    return summary


# What a trace without run_finished is, by its writer's verdict (magentic.trace.owner).
_UNFINISHED = {"gone": "died", "closed": "interrupted", "silent": "lost"}


def judge(summary: RunSummary, folder: Path) -> RunSummary:
    """A run that has not finished: still running, or its process died (killed, crashed,
    the machine went down), its writer closed without an ending, or, when it was written
    on another machine, it has been silent too long to be alive. Blocking: reads /proc."""
    if summary.status != "running":
        return summary
    try:
        grown = (folder / TRACE).stat().st_mtime
    except OSError:
        return summary
    summary.status = _UNFINISHED.get(owner.verdict(folder, grown), "running")
    return summary


def run_summary(ref: str, folder: Path) -> RunSummary:
    """The runs list's line of one run folder (blocking: reads its trace)."""
    return judge(summarize(ref, read_events(folder / TRACE).items), folder)


def _owners() -> tuple[int, ...]:
    return (os.geteuid(), 0) if hasattr(os, "geteuid") else ()


def _vouched(info: os.stat_result, *, folder: bool) -> bool:
    """A folder or file the view may trust: no link, ours (or root's), and for a folder,
    not writable by everyone."""
    owners = _owners()
    if owners and info.st_uid not in owners:
        return False
    if folder:
        return stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IWOTH
    return stat.S_ISREG(info.st_mode)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def vouched_file(path: Path) -> bool:
    info = _lstat(path)
    return info is not None and _vouched(info, folder=False)


class Library:
    """The folders `magentic ui` serves: runs and benches found under each root.

    Runs and benches are named by a reference, `<root index>/<path inside the root>`. A
    reference is followed one name at a time from its root, by the same rules as the walk
    that lists them (module docstring), so no link, `..` or workspace leads anywhere else."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(root).resolve() for root in roots]

    def _find(self, name: str) -> list[str]:
        found: list[str] = []
        for index, root in enumerate(self.roots):
            if not root.is_dir():
                continue
            for path in _walk(root, name, _MAX_DEPTH):
                rel = path.parent.relative_to(root).as_posix()
                found.append(f"{index}/{rel}" if rel != "." else f"{index}/.")
        return found

    def runs(self) -> list[str]:
        return self._find(TRACE)

    def benches(self) -> list[str]:
        return self._find(RESULTS)

    def folder(self, ref: str) -> Path | None:
        """The folder a reference names, or None when it names nothing the view vouches for."""
        index_text, _, rel = ref.partition("/")
        if not index_text.isdigit() or int(index_text) >= len(self.roots):
            return None
        path = self.roots[int(index_text)]
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if len(parts) > _MAX_DEPTH:
            return None
        for part in parts:
            if part == ".." or part in _NEVER:
                return None
            path = path / part
            info = _lstat(path)
            if info is None or not _vouched(info, folder=True):
                return None
        return path if path.is_dir() else None

    def run_folder(self, ref: str) -> Path | None:
        """The folder of a run (a vouched folder with a vouched trace), or None."""
        folder = self.folder(ref)
        return folder if folder is not None and vouched_file(folder / TRACE) else None

    def bench_folder(self, ref: str) -> Path | None:
        folder = self.folder(ref)
        return folder if folder is not None and vouched_file(folder / RESULTS) else None

    @staticmethod
    def trace_of(folder: Path) -> Path:
        return folder / TRACE

    def file(self, ref: str, rel: str) -> Path | None:
        """A file of a run's `attachments/`, vouched for as its folder is."""
        folder = self.folder(ref)
        parts = rel.split("/")
        if folder is None or len(parts) != 2 or parts[0] != "attachments":
            return None
        name = parts[1]
        if name in ("", ".", ".."):
            return None
        attachments = folder / "attachments"
        info = _lstat(attachments)
        if info is None or not _vouched(info, folder=True):
            return None
        path = attachments / name
        return path if vouched_file(path) else None

    def ref_of(self, path: Path) -> str | None:
        path = path.resolve()
        for index, root in enumerate(self.roots):
            if path == root or root in path.parents:
                rel = path.relative_to(root).as_posix()
                return f"{index}/{rel}"
        return None


def _walk(folder: Path, name: str, depth: int) -> list[Path]:
    found: list[Path] = []
    if vouched_file(folder / name):
        found.append(folder / name)
    if depth <= 0:
        return found
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return found
    for child in children:
        info = _lstat(child)
        if child.name in _NEVER or info is None or not _vouched(info, folder=True):
            continue
        found.extend(_walk(child, name, depth - 1))
    return found
