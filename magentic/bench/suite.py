"""A benchmark suite as data: its tasks, the files beside them, optional local sites.

Reading a format is an adapter's job (`magentic.bench.suites`: GAIA's metadata.jsonl or
metadata.parquet, AssistantBench); this module holds what they share. Our local suites add a `sites/` folder served on 127.0.0.1
while the suite runs; their questions say `{site}` where the server's base URL goes, because
the port is only known at run time.

Selection (level, ids, limit, shard) is pure and deterministic: every machine given the same
suite and the same flags picks the same tasks, which is what lets a batch scheduler split a
suite into shards and `merge` put the results back together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from magentic.errors import ConfigError

METADATA = "metadata.jsonl"
SITES = "sites"
SITE_PLACEHOLDER = "{site}"
UNSCORED_TRUTHS = {"", "?"}


@dataclass(frozen=True)
class BenchTask:
    task_id: str
    question: str  # with `{site}` still in it until `with_site` fills it in
    level: int
    truth: str | None  # None: unscored (GAIA's test split)
    file_name: str = ""
    file_path: Path | None = None  # absolute path of the attached file, if any
    annotator: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    site_url: str | None = None  # the suite's site server, once `with_site` filled it in
    suite: str = field(default="", compare=False)  # the suite's name, once the runner set it

    @property
    def scored(self) -> bool:
        return self.truth is not None

    def with_site(self, base_url: str | None) -> BenchTask:
        """The task with its question's `{site}` replaced by the running server's base URL.

        A plain replace, not `str.format`: GAIA questions contain other braces.
        """
        if base_url is None or SITE_PLACEHOLDER not in self.question:
            return self
        base = base_url.rstrip("/")
        return replace(self, question=self.question.replace(SITE_PLACEHOLDER, base), site_url=base)


@dataclass(frozen=True)
class Shard:
    """Slice `index` (1-based) of `count`: tasks whose rank in task-id order is index-1 mod count."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            left, right = text.split("/")
            index, count = int(left), int(right)
        except ValueError:
            raise ConfigError(f"--shard wants I/N (like 2/8), not {text!r}") from None
        if count < 1 or not 1 <= index <= count:
            raise ConfigError(f"--shard {text}: needs 1 <= I <= N (shards are numbered from 1)")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Suite:
    root: Path
    name: str
    tasks: tuple[BenchTask, ...]
    kind: str = "gaia"  # the adapter that read it (magentic.bench.suites), which also scores

    @property
    def sites_dir(self) -> Path | None:
        sites = self.root / SITES
        return sites if sites.is_dir() else None

    def task(self, task_id: str) -> BenchTask:
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise KeyError(task_id)

    def select(
        self,
        *,
        level: int | None = None,
        task_ids: Iterable[str] | None = None,
        limit: int | None = None,
        shard: Shard | None = None,
    ) -> list[BenchTask]:
        """The tasks a run covers, in file order.

        Filters apply first, then `limit` (the first N in file order), then the shard, so the
        N shards of a limited run cover exactly that run's tasks. Unknown task ids are an error
        (a typo would otherwise run nothing and look like success).
        """
        chosen = list(self.tasks)
        if level is not None:
            chosen = [t for t in chosen if t.level == level]
        if task_ids is not None:
            wanted = list(dict.fromkeys(task_ids))
            known = {t.task_id for t in self.tasks}
            unknown = [t for t in wanted if t not in known]
            if unknown:
                raise ConfigError(f"suite {self.name} has no task {', '.join(unknown)}")
            keep = set(wanted)
            chosen = [t for t in chosen if t.task_id in keep]
        if limit is not None:
            chosen = chosen[: max(limit, 0)]
        if shard is not None:
            ranked = sorted(t.task_id for t in chosen)
            mine = {tid for rank, tid in enumerate(ranked) if rank % shard.count == shard.index - 1}
            chosen = [t for t in chosen if t.task_id in mine]
        return chosen


def jsonl_rows(path: Path) -> list[tuple[str, Any]]:
    """(where, row) for each non-blank line of a JSONL file, `where` naming file and line;
    a line that is not JSON is refused with that name."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc.msg})") from None
    return rows


def check_unique(tasks: Sequence[BenchTask], where: str) -> None:
    """Refuse a suite in which one task id appears twice (results are keyed by it)."""
    seen: set[str] = set()
    for task in tasks:
        if task.task_id in seen:
            raise ConfigError(f"{where}: task {task.task_id} appears twice")
        seen.add(task.task_id)
    if not tasks:
        raise ConfigError(f"{where} holds no tasks")


def attached_file(root: Path, name: str, *, where: str) -> Path:
    """The attached file `name`, which must be a regular file inside the suite folder.

    `..`, an absolute path and a symbolic link are all resolved first, so none of them can
    lead out of the suite: a row naming `../../etc/shadow` is refused when the suite loads.
    """
    folder = root.resolve()
    candidate = Path(name)
    path = (candidate if candidate.is_absolute() else folder / candidate).resolve()
    if not path.is_relative_to(folder):
        raise ConfigError(
            f"{where}: attached file {name!r} leads outside the suite folder {folder}"
        )
    if not path.is_file():
        raise ConfigError(f"{where}: attached file {name} is not in {folder}")
    return path


def task_ids_arg(text: str | Sequence[str] | None) -> list[str] | None:
    """`--tasks a,b c` as a list of ids (commas and repeats both work)."""
    if text is None:
        return None
    parts = [text] if isinstance(text, str) else list(text)
    ids = [piece.strip() for part in parts for piece in part.split(",") if piece.strip()]
    return ids or None
