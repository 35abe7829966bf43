"""GAIA, in both of its published layouts.

The older folders hold `metadata.jsonl` (one JSON object a line); today's hold
`metadata.parquet`, where Level is a string and a `file_path` column names the attachment
relative to the dataset's root (`2023/validation/<id>.xlsx`) while the file itself sits
beside the metadata. Either file, or the folder holding it, loads. Columns used: `task_id`,
`Question`, `Level`, `Final answer` (absent or "?" on the test split: unscored),
`file_name` / `file_path` and `Annotator Metadata`. Reading parquet needs pyarrow (the
`bench` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magentic.bench.scoring import score
from magentic.bench.suite import (
    METADATA,
    UNSCORED_TRUTHS,
    BenchTask,
    Suite,
    attached_file,
    check_unique,
    jsonl_rows,
)
from magentic.bench.suites import SuiteAdapter
from magentic.errors import ConfigError

PARQUET = "metadata.parquet"
REQUIRED = ("task_id", "Question", "Level")
LEVELS = (1, 2, 3)


def metadata_file(path: Path) -> Path | None:
    """The metadata file `path` is or holds (JSONL preferred when a folder has both)."""
    if path.is_file():
        return path if path.suffix in (".jsonl", ".parquet") else None
    for name in (METADATA, PARQUET):
        if (path / name).is_file():
            return path / name
    return None


def recognises(path: Path) -> bool:
    return metadata_file(path) is not None


def load(path: Path) -> Suite:
    metadata = metadata_file(path)
    if metadata is None:
        raise ConfigError(f"{path} is not a suite: no {METADATA} or {PARQUET} in it")
    root = metadata.parent
    if metadata.suffix == ".parquet":
        rows = [(f"{metadata} row {n}", row) for n, row in enumerate(_parquet_rows(metadata), 1)]
    else:
        rows = list(jsonl_rows(metadata))
    tasks = [_task_from_row(row, root, where=where) for where, row in rows]
    check_unique(tasks, str(metadata))
    name = root.resolve().name
    return Suite(root=root.resolve(), name=name, tasks=tuple(tasks), kind="gaia")


def credit(answer: str, truth: str | None) -> float | None:
    right = score(answer, truth)
    return None if right is None else float(right)


ADAPTER = SuiteAdapter(kind="gaia", recognises=recognises, load=load, credit=credit)


def _parquet_rows(metadata: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            f"{metadata}: reading parquet needs pyarrow (pip install 'magentic-team[bench]')"
        ) from None
    try:
        table = pq.read_table(metadata)
    except Exception as exc:  # pyarrow raises its own, varied errors for a bad file
        raise ConfigError(f"{metadata}: not a readable parquet file ({exc})") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ConfigError(
            f"{metadata} is not GAIA metadata: missing column(s) {', '.join(missing)}"
        )
    return table.to_pylist()


def _task_from_row(row: Any, root: Path, *, where: str) -> BenchTask:
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: a task is a JSON object")
    missing = [key for key in REQUIRED if row.get(key) is None]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    task_id = str(row["task_id"])
    where = f"{where} (task {task_id})"
    level = _level(row["Level"], where)
    truth = row.get("Final answer")
    truth = None if truth is None or str(truth).strip() in UNSCORED_TRUTHS else str(truth)
    file_name = str(row.get("file_name") or "")
    file_path = _attachment(root, str(row.get("file_path") or ""), file_name, where=where)
    annotator = row.get("Annotator Metadata") or {}
    return BenchTask(
        task_id=task_id,
        question=str(row["Question"]),
        level=level,
        truth=truth,
        file_name=file_name or (file_path.name if file_path else ""),
        file_path=file_path,
        annotator=annotator if isinstance(annotator, dict) else {"note": annotator},
    )


def _level(value: Any, where: str) -> int:
    """1, 2 or 3, given as a number or a string ("2", "2.0" and 2.0 all mean 2)."""
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if number not in LEVELS:
        raise ConfigError(f"{where}: Level {value!r} is not 1, 2 or 3")
    return int(number)


def _attachment(root: Path, file_path: str, file_name: str, *, where: str) -> Path | None:
    """The attached file. `file_path` is tried as given (relative to the suite folder), then
    by its bare name beside the metadata (today's layout names it from the dataset's root);
    `file_name` last. Every candidate is checked to stay inside the suite folder."""
    candidates = [c for c in dict.fromkeys([file_path, Path(file_path).name, file_name]) if c]
    if not candidates:
        return None
    for candidate in candidates[:-1]:
        try:
            return attached_file(root, candidate, where=where)
        except ConfigError as exc:
            if "outside the suite" in str(exc):
                raise
    return attached_file(root, candidates[-1], where=where)
