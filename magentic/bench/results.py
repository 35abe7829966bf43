"""`results.jsonl`: one record per (task, repeat), written the moment that task ends.

The file is the run's memory. Each line is flushed and fsynced before the next task can be
reported, so a run that is killed (Ctrl-C, OOM, a batch scheduler's time limit) loses only
the tasks that were still running. A kill in the middle of a write leaves a torn last line;
reading skips it and the next append cuts it off, so `--resume` just works.

Within one file a later record for the same key replaces an earlier one (a resumed run
retrying a task that crashed). Across shard folders, `merge` refuses to guess: the same key
with different outcomes is an error naming both folders.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from magentic.errors import ConfigError

RESULTS = "results.jsonl"
Status = Literal["answered", "out_of_budget", "failed", "cancelled", "error"]
Key = tuple[str, int]


class TaskResult(BaseModel):
    """The outcome of one run of one task, as stored on disk."""

    model_config = ConfigDict(extra="ignore")
    task_id: str
    repeat: int = 0
    level: int
    question: str
    answer: str = ""
    truth: str | None = None
    correct: bool | None = None  # None: unscored (no truth)
    # What the run earned in [0, 1] under its suite's scorer (partial credit where the suite
    # has it); None when unscored. Older records lack it and fall back on `correct`.
    credit: float | None = None
    judge_reasons: str | None = None  # a judged suite: why the judge model decided as it did
    # answered / out_of_budget / failed / cancelled come from the team; "error" means the run
    # itself broke (an exception), and `--resume` runs such a task again.
    status: Status
    stop_reason: str = ""
    rounds: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    trace_path: str | None = None  # relative to the results folder when inside it
    reasoning: str = ""  # a short account of how the answer was reached (GAIA submission)
    # Set when the run broke: a crash, or a model endpoint that failed for good.
    error: str | None = None
    failed_calls: int = 0  # model call attempts the endpoint failed, retried or not
    node: str | None = None  # the Ray node that ran it (`--ray`); None in a local run

    @property
    def key(self) -> Key:
        return (self.task_id, self.repeat)

    @property
    def earned(self) -> float | None:
        """The run's credit in [0, 1], or None when unscored."""
        if self.credit is not None:
            return self.credit
        return None if self.correct is None else float(self.correct)

    @property
    def errored(self) -> bool:
        """Whether the run broke (counted in the report's errors column)."""
        return self.status == "error" or self.error is not None

    def outcome(self) -> dict[str, object]:
        """Everything but where the trace is and which node ran it: what two copies of one
        result must agree on."""
        return self.model_dump(exclude={"trace_path", "node"})


class ResultStore:
    """Append-only results of one folder. Thread-safe appends (the runner writes from threads)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / RESULTS
        self._lock = threading.Lock()

    def load(self) -> list[TaskResult]:
        """Every record, the last one per key winning, in first-seen key order."""
        latest: dict[Key, TaskResult] = {}
        for result in self._read():
            latest[result.key] = result
        return list(latest.values())

    def done_keys(self) -> set[Key]:
        """Keys `--resume` may skip: every finished record except the ones that crashed."""
        return {r.key for r in self.load() if r.status != "error"}

    def append(self, result: TaskResult) -> None:
        line = result.model_dump_json() + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._cut_torn_tail()
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())

    def write_all(self, results: Iterable[TaskResult]) -> None:
        """Replace the file with these records, atomically (a merge's output)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(RESULTS + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            for result in results:
                handle.write(result.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def _read(self) -> list[TaskResult]:
        if not self.path.is_file():
            return []
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        results = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            torn = number == len(lines)  # no newline after it: the write never finished
            try:
                results.append(TaskResult.model_validate_json(raw))
            except ValidationError as exc:
                if torn:
                    break
                first = exc.errors()[0]
                raise ConfigError(
                    f"{self.path}:{number} is not a result ({first['msg']})"
                ) from None
        return results

    def _cut_torn_tail(self) -> None:
        """Drop a half-written last line so the next record starts on a line of its own."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            data = handle.read()
            tail = data[data.rfind(b"\n") + 1 :]
            try:
                TaskResult.model_validate_json(tail)
            except ValidationError:
                handle.truncate(len(data) - len(tail))
            else:  # whole record, only its newline was lost: keep it, as `load` does
                handle.write(b"\n")


def merge(folders: Sequence[str | Path], out: str | Path) -> ResultStore:
    """Combine the results of several folders (shards) into `out/results.jsonl`.

    Identical copies of a record collapse into one; the same (task, repeat) with different
    outcomes is an error, because no rule can say which one is right. Trace paths are rewritten
    to stay valid from the new folder.
    """
    out = Path(out)
    target = ResultStore(out)
    if target.path.exists() and out.resolve() not in {Path(f).resolve() for f in folders}:
        raise ConfigError(
            f"{target.path} exists; choose an empty --out or list {out} among the inputs"
        )
    merged: dict[Key, tuple[TaskResult, Path]] = {}
    for folder in map(Path, folders):
        store = ResultStore(folder)
        if not store.path.is_file():
            raise ConfigError(f"{folder} has no {RESULTS}")
        for result in store.load():
            result = _rebase_trace(result, folder, out)
            seen = merged.get(result.key)
            if seen is None:
                merged[result.key] = (result, folder)
            elif seen[0].outcome() != result.outcome():
                task_id, repeat = result.key
                raise ConfigError(
                    f"task {task_id} repeat {repeat} has different results in {seen[1]} "
                    f"and {folder}; remove one and merge again"
                )
    ordered = sorted((r for r, _ in merged.values()), key=lambda r: (r.repeat, r.task_id))
    target.write_all(ordered)
    return target


def _rebase_trace(result: TaskResult, source: Path, out: Path) -> TaskResult:
    if not result.trace_path or Path(result.trace_path).is_absolute():
        return result
    moved = os.path.relpath((source / result.trace_path).resolve(), out.resolve())
    return result.model_copy(update={"trace_path": moved})
