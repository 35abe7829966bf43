"""AssistantBench: realistic, time-consuming web tasks with partial-credit scoring.

The published files are JSON lines (`assistant_bench_v1.0_dev.jsonl` and the like) with
`id`, `task`, `answer` (absent on the test split), `difficulty` (Easy, Medium, Hard: our
levels 1, 2, 3), `gold_url` and `explanation`. Give the file, or a folder holding exactly one
such file. Tasks have no attachments.

The scorer is ours, written from the rules the benchmark's paper states:

* the gold answer's type decides the comparison. A gold answer may be a JSON value, and
  several JSON objects on separate lines are a list of them;
* strings: F1 over their words (lowercased, punctuation and the articles a/an/the dropped);
* numbers: credit falls with the order of magnitude of the error,
  `max(0, 1 - log10(max(g, p) / min(g, p)))`: exact is 1, off by a factor of 10 or more is
  0. Different signs, or one side zero and not the other, earn 0;
* lists: every gold item is paired with at most one predicted item (best pairs first);
  precision and recall are the summed pair credits over the predicted and the gold counts,
  and the credit is their F1;
* dicts: recall is the mean credit of the gold keys' values (a missing key earns 0),
  precision the same summed over the predicted keys; the credit is their F1.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any

from magentic.bench.scoring import parse_number
from magentic.bench.suite import BenchTask, Suite, check_unique, jsonl_rows
from magentic.bench.suites import SuiteAdapter
from magentic.errors import ConfigError

LEVELS = {"easy": 1, "medium": 2, "hard": 3}
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _data_file(path: Path) -> Path | None:
    if path.is_file():
        return path if path.suffix == ".jsonl" and _looks_like_assistantbench(path) else None
    found = [p for p in sorted(path.glob("*.jsonl")) if _looks_like_assistantbench(p)]
    return found[0] if len(found) == 1 else None


def _looks_like_assistantbench(path: Path) -> bool:
    """Its first row has AssistantBench's keys (`id`, `task`) and not GAIA's."""
    try:
        with path.open(encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
        row = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(row, dict) and "task" in row and "id" in row and "Question" not in row


def recognises(path: Path) -> bool:
    return _data_file(path) is not None


def load(path: Path) -> Suite:
    data = _data_file(path)
    if data is None:
        raise ConfigError(f"{path} is not an AssistantBench file")
    tasks = [_task(row, where) for where, row in jsonl_rows(data)]
    check_unique(tasks, str(data))
    root = data.parent.resolve()
    return Suite(root=root, name=data.stem, tasks=tuple(tasks), kind="assistantbench")


def _task(row: Any, where: str) -> BenchTask:
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: a task is a JSON object")
    missing = [k for k in ("id", "task") if not row.get(k)]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    task_id = str(row["id"])
    difficulty = str(row.get("difficulty") or "medium").strip().lower()
    if difficulty not in LEVELS:
        raise ConfigError(
            f"{where} (task {task_id}): difficulty {row.get('difficulty')!r} "
            "is not Easy, Medium or Hard"
        )
    answer = row.get("answer")
    truth = None if answer is None or str(answer).strip() == "" else str(answer)
    return BenchTask(
        task_id=task_id,
        question=str(row["task"]),
        level=LEVELS[difficulty],
        truth=truth,
        annotator={k: row[k] for k in ("gold_url", "explanation") if row.get(k)},
    )


# Scoring ------------------------------------------------------------------------------------


def parse_answer(text: str) -> Any:
    """A gold or predicted answer as a value: JSON when it is JSON (several JSON objects on
    separate lines make a list), else the text."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        try:
            return [json.loads(line) for line in lines]
        except ValueError:
            pass
    return text


def words(text: str) -> list[str]:
    text = str(text).lower().translate(_PUNCTUATION)
    return _ARTICLES.sub(" ", text).split()


def string_credit(predicted: Any, gold: Any) -> float:
    """F1 over words."""
    mine, theirs = words(predicted), words(gold)
    if not mine or not theirs:
        return float(mine == theirs)
    common = sum((Counter(mine) & Counter(theirs)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(mine), common / len(theirs)
    return 2 * precision * recall / (precision + recall)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_number(value)
    return None


def number_credit(predicted: Any, gold: Any) -> float:
    """1 - log10 of the ratio, floored at 0."""
    p, g = _number(predicted), _number(gold)
    if p is None or g is None:
        return 0.0
    if p == g:
        return 1.0
    if p == 0 or g == 0 or (p < 0) != (g < 0):
        return 0.0
    ratio = max(abs(p), abs(g)) / min(abs(p), abs(g))
    return max(0.0, 1.0 - math.log10(ratio))


def _f1(matched: float, predicted: int, gold: int) -> float:
    if predicted == 0 or gold == 0 or matched == 0:
        return 0.0
    precision, recall = matched / predicted, matched / gold
    return 2 * precision * recall / (precision + recall)


def list_credit(predicted: Any, gold: list[Any]) -> float:
    """F1 of a one-to-one pairing of items, best pairs first."""
    if not isinstance(predicted, list):
        predicted = [predicted]
    pairs = sorted(
        ((value_credit(p, g), i, j) for i, p in enumerate(predicted) for j, g in enumerate(gold)),
        reverse=True,
    )
    used_p: set[int] = set()
    used_g: set[int] = set()
    matched = 0.0
    for credit_, i, j in pairs:
        if credit_ > 0 and i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            matched += credit_
    return _f1(matched, len(predicted), len(gold))


def dict_credit(predicted: Any, gold: dict[str, Any]) -> float:
    """F1 over keys, each matched key earning its value's credit."""
    if not isinstance(predicted, dict):
        return 0.0
    mine = {str(k).strip().lower(): v for k, v in predicted.items()}
    matched = sum(
        value_credit(mine[k], v)
        for k, v in ((str(k).strip().lower(), v) for k, v in gold.items())
        if k in mine
    )
    return _f1(matched, len(mine), len(gold))


def value_credit(predicted: Any, gold: Any) -> float:
    """The credit of a predicted value against a gold value; the gold's type decides."""
    if isinstance(gold, dict):
        return dict_credit(predicted, gold)
    if isinstance(gold, list):
        return list_credit(predicted, gold)
    if _number(gold) is not None:
        return number_credit(predicted, gold)
    return string_credit(predicted, gold)


def credit(answer: str, truth: str | None) -> float | None:
    """AssistantBench's partial credit of a final answer; None when there is no truth."""
    if truth is None:
        return None
    if not answer or not answer.strip():
        return 0.0
    gold = parse_answer(truth)
    predicted = parse_answer(answer)
    if isinstance(gold, list) and isinstance(predicted, str):
        # a list written as text ("a, b, c") is read as one
        predicted = [p.strip() for p in re.split(r"[,;\n]", predicted) if p.strip()]
    return round(value_credit(predicted, gold), 6)


ADAPTER = SuiteAdapter(kind="assistantbench", recognises=recognises, load=load, credit=credit)
