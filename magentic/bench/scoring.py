"""GAIA's scoring rules, so our numbers mean what the leaderboard's mean.

Written from the rules as GAIA describes them; the choices below follow the official scorer's
behaviour where the description leaves room:

* the truth decides the kind of comparison, never the answer;
* a numeric truth: the answer, stripped of `$`, `%` and `,`, must parse as a number equal to
  it (exactly: GAIA's truths are written at the precision they ask for). Units left in the
  answer ("17 km") make it unparseable, hence wrong;
* a truth with `,` or `;`: a list. Both sides are split on either separator and must have the
  same length; elements compare as numbers when the truth element is one, else as strings
  with white space removed and lowercased (punctuation kept inside list elements, as the
  official scorer does: "St. Paul" and "St Paul" differ there);
* otherwise: strings with white space and punctuation removed, lowercased.

Empty or missing answers are wrong; a missing truth means unscored (`None`).
"""

from __future__ import annotations

import math
import re
import string

_FINAL = re.compile(r"final\s+answer\s*:", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,;]")
_WHITESPACE = re.compile(r"\s+")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def extract_final_answer(text: str | None) -> str:
    """What follows the last `FINAL ANSWER:` (any case), else the whole text, stripped."""
    if not text:
        return ""
    matches = list(_FINAL.finditer(text))
    tail = text[matches[-1].end() :] if matches else text
    return tail.strip()


def parse_number(text: str) -> float | None:
    """A number as GAIA reads one from an answer: `$`, `%` and `,` dropped, else as is."""
    cleaned = text.replace("$", "").replace("%", "").replace(",", "").strip()
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def is_number(text: str) -> bool:
    """Whether a truth is numeric: it parses as a float as written (no cleaning)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def normalize(text: str, *, keep_punctuation: bool = False) -> str:
    text = _WHITESPACE.sub("", text)
    if not keep_punctuation:
        text = text.translate(_PUNCTUATION)
    return text.lower()


def score(answer: str | None, truth: str | None) -> bool | None:
    """True/False by GAIA's rules; None when the task has no truth (unscored)."""
    if truth is None:
        return None
    if answer is None or not answer.strip():
        return False
    if is_number(truth):
        return _same_number(answer, truth)
    if _SEPARATORS.search(truth):
        truths = _SEPARATORS.split(truth)
        answers = _SEPARATORS.split(answer)
        if len(truths) != len(answers):
            return False
        return all(_same_element(a, t) for a, t in zip(answers, truths, strict=True))
    return normalize(answer) == normalize(truth)


def _same_number(answer: str, truth: str) -> bool:
    value = parse_number(answer)
    return value is not None and value == float(truth)


def _same_element(answer: str, truth: str) -> bool:
    if is_number(truth):
        return _same_number(answer, truth)
    return normalize(answer, keep_punctuation=True) == normalize(truth, keep_punctuation=True)
