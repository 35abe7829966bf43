"""Is the final reply an answer? Small models often reply with something else: a refusal, a
plan of what to do next, a block of code, or the orchestrator's own instruction repeated.

`not_an_answer` names what the reply is instead, so the orchestrator can ask once more with
that reason and record a run as answered only when it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_REFUSAL = re.compile(
    r"^\s*(i'?m sorry|i am sorry|sorry,|i cannot|i can'?t|i am unable|i'?m unable|i do not have|"
    r"i don'?t have|as an ai|unfortunately,? i)",
    re.IGNORECASE,
)
_STEP_LINE = re.compile(r"^\s*(\d+[.)]|step \d+|[-*] )", re.IGNORECASE)
_PLAN_WORDS = re.compile(
    r"\b(plan|next step|i will|we will|we need to|let'?s|first,|then,?|the team should)\b",
    re.IGNORECASE,
)
_FENCED = re.compile(r"```.*?(```|$)", re.DOTALL)
_CODE_START = re.compile(r"\s*(def |import |from \S+ import |print\()")
_FINAL_LINE = re.compile(r"final answer\s*:", re.IGNORECASE)


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


_WANTS_CODE = re.compile(
    r"\b(code|function|script|program|snippet|regex|regular expression|sql|query|command)\b",
    re.IGNORECASE,
)


def not_an_answer(reply: str, instructions: Iterable[str] = (), task: str = "") -> str:
    """Why `reply` is not an answer ('' when it is one). Code is an answer when the task
    asks for code."""
    text = reply.strip()
    if not text:
        return "the reply was empty"
    if _FINAL_LINE.search(text):
        return ""  # an explicit answer line wins over whatever surrounds it
    if text.startswith("(to ") or text.startswith('{"is_request_satisfied"'):
        return "the reply repeats the orchestrator's own words instead of answering"
    said = _normal(text)
    for instruction in instructions:
        given = _normal(instruction)
        if len(said) >= 20 and (said == given or (said in given and len(said) > len(given) / 2)):
            return "the reply repeats an instruction given to a teammate instead of answering"
    if _REFUSAL.match(text) and len(text) < 600:
        return "the reply is a refusal; give the best answer the conversation supports"
    looks_like_code = "```" in text and len(_normal(_FENCED.sub("", text))) < 40
    if (looks_like_code or _CODE_START.match(text)) and not _WANTS_CODE.search(task):
        return "the reply is code; give the result it computes, not the code"
    lines = [line for line in text.splitlines() if line.strip()]
    steps = sum(1 for line in lines if _STEP_LINE.match(line))
    if steps >= 2 and steps >= len(lines) - 1 and _PLAN_WORDS.search(text):
        return "the reply is a plan of work; the work is over, give its result"
    return ""
