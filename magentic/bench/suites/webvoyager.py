"""WebVoyager-style tasks: a start URL and a question with no exact answer, judged by a model.

The file is JSON lines with `id`, `ques` (the task), `web` (the start URL) and optionally
`web_name` (the site, kept in the task's notes). Give the file, or a folder holding exactly
one such file. Every task is level 1 and carries no truth: the bench needs `--judge-model`,
whose verdict is the run's credit (1 or 0), with the judge's reasons recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magentic.bench.suite import BenchTask, Suite, check_unique, jsonl_rows
from magentic.bench.suites import SuiteAdapter
from magentic.errors import ConfigError


def _looks_like_webvoyager(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            row = json.loads(next((line for line in handle if line.strip()), ""))
    except (OSError, ValueError):
        return False
    return isinstance(row, dict) and "ques" in row and "web" in row


def _data_file(path: Path) -> Path | None:
    if path.is_file():
        return path if path.suffix == ".jsonl" and _looks_like_webvoyager(path) else None
    found = [p for p in sorted(path.glob("*.jsonl")) if _looks_like_webvoyager(p)]
    return found[0] if len(found) == 1 else None


def recognises(path: Path) -> bool:
    return _data_file(path) is not None


def load(path: Path) -> Suite:
    data = _data_file(path)
    if data is None:
        raise ConfigError(f"{path} is not a WebVoyager-style file")
    tasks = [_task(row, where) for where, row in jsonl_rows(data)]
    check_unique(tasks, str(data))
    return Suite(root=data.parent.resolve(), name=data.stem, tasks=tuple(tasks), kind="webvoyager")


def _task(row: Any, where: str) -> BenchTask:
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: a task is a JSON object")
    missing = [k for k in ("id", "ques", "web") if not row.get(k)]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    task_id, url = str(row["id"]), str(row["web"]).strip()
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where} (task {task_id}): web {url!r} is not an http(s) URL")
    return BenchTask(
        task_id=task_id,
        question=f"{row['ques']}\n\nStart at {url}",
        level=1,
        truth=None,
        annotator={"web": url, "web_name": str(row.get("web_name") or "")},
    )


def credit(answer: str, truth: str | None) -> float | None:
    return None  # judged by a model, not by string rules


ADAPTER = SuiteAdapter(
    kind="webvoyager", recognises=recognises, load=load, credit=credit, judged=True
)
