"""The commands a person can give a run, as typed values any face can build or parse.

They are pydantic models with a `kind` tag, so the web view can post them as JSON and the
trace can record them as they came; `parse_command` turns untrusted input into one command or
a one-line error that says what was wrong.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from magentic.errors import ControlError


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pause(_Command):
    """Stop at the next safe point and wait."""

    kind: Literal["pause"] = "pause"


class Resume(_Command):
    """Go on after a pause."""

    kind: Literal["resume"] = "resume"


class Guide(_Command):
    """Words for the orchestrator, taken as the user's. During a plan review: a comment on
    the plan, which is replanned with it."""

    kind: Literal["guide"] = "guide"
    text: str = Field(min_length=1, max_length=20_000)


class Approve(_Command):
    """Yes to one open request (an action, or the plan under review)."""

    kind: Literal["approve"] = "approve"
    request_id: str = Field(min_length=1)
    reason: str = ""


class Deny(_Command):
    """No to one open request; the reason reaches the agent that asked."""

    kind: Literal["deny"] = "deny"
    request_id: str = Field(min_length=1)
    reason: str = ""


class EditPlan(_Command):
    """Replace the plan with these steps, used verbatim. A step is "Agent: what to do";
    a step naming no agent of the team is given to the one the orchestrator judges best."""

    kind: Literal["edit_plan"] = "edit_plan"
    steps: list[Annotated[str, Field(min_length=1, max_length=4_000)]] = Field(
        min_length=1, max_length=100
    )


class Stop(_Command):
    """End the run at the next safe point, with the best answer so far."""

    kind: Literal["stop"] = "stop"
    reason: str = ""


Command = Annotated[
    Pause | Resume | Guide | Approve | Deny | EditPlan | Stop, Field(discriminator="kind")
]
_adapter: TypeAdapter[Any] = TypeAdapter(Command)
KINDS = ("pause", "resume", "guide", "approve", "deny", "edit_plan", "stop")


def parse_command(data: str | bytes | dict[str, Any]) -> Command:
    """One command from JSON text or a decoded object; ControlError says what is wrong."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise ControlError(f"a command must be a JSON object: {error}") from None
    if not isinstance(data, dict):
        raise ControlError("a command must be a JSON object with a 'kind'")
    if data.get("kind") not in KINDS:
        raise ControlError(f"unknown command kind {data.get('kind')!r}; known: {', '.join(KINDS)}")
    try:
        command: Command = _adapter.validate_python(data)
    except ValidationError as error:
        item = error.errors()[0]
        where = ".".join(str(p) for p in item["loc"][1:])
        raise ControlError(f"bad {data['kind']} command: {where}: {item['msg']}") from None
    return command
