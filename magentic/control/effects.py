"""The run's journal of side effects, so a resumed run does not do again what was done.

A checkpoint is taken between rounds. A process killed in the middle of a round has maybe
already run that round's code, posted its form or called a tool that changes something;
on resume the round starts again from the checkpoint and the very same action is asked for
(the call journal even answers the model's part byte for byte). Actions that change the
world outside the run are therefore written to `effects.jsonl` in the run folder: a line
when the action starts, before anything leaves, and a line with its result when it is done,
both before the agent goes on. The checkpoint records how far the journal went.

A resumed run loads the entries written after that point. When the replayed round asks for
the same action again (same agent, same kind, same key: the code's hash, the POST's address
and body, the tool and its arguments), the recorded result is given back instead of acting
again. An action that started but has no result (the kill came in the middle) may or may
not have happened: the person is asked, and with nobody there it is not repeated, and the
agent says so. Each is a `SideEffectRecorded` event in the trace.

Only what matches an entry after the last checkpoint is replayed, once: a later round that
asks for the same action is a new action, and runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magentic import secrets
from magentic.control.channel import ControlChannel
from magentic.events import EventBus, SideEffectRecorded
from magentic.jsonl_log import JsonlLog

FILE_NAME = "effects.jsonl"
_MAX_LINE = 4 * 1024 * 1024  # a line longer than this is someone else's, not ours


@dataclass(frozen=True)
class Done:
    """The action's result: just now, or `replayed` from the journal."""

    result: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class NotRepeated:
    """The action started before the kill with no result recorded, and was not done again
    (nobody said to). `reason` is for the agent's model."""

    reason: str


def effect_key(agent: str, kind: str, material: Any) -> str:
    """The identity of one action: what is the same when a replayed round asks again."""
    text = json.dumps([agent, kind, material], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()


class EffectJournal:
    def __init__(self, path: Path, events: EventBus, control: ControlChannel | None = None):
        self.file = JsonlLog(path, "the side-effect journal")
        self.events = events
        self.control = control
        self._pending: dict[str, deque[dict[str, Any]]] = {}
        self._counter = 0

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def size(self) -> int:
        """Bytes of whole entries written so far (the checkpoint's offset)."""
        return self.file.size

    def replay_from(self, offset: int) -> int:
        """Take the actions journaled after byte `offset` (blocking: before the run starts,
        or in a thread). Returns how many there are."""
        started: dict[str, dict[str, Any]] = {}
        order: list[dict[str, Any]] = []
        for line in self.file.lines_after(offset):
            if len(line) > _MAX_LINE:
                continue
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            if entry.get("state") == "started" and isinstance(entry.get("key"), str):
                record = {"key": entry["key"], "what": str(entry.get("what", "")), "result": None}
                started[entry["id"]] = record
                order.append(record)
            elif entry.get("state") == "done" and entry["id"] in started:
                result = entry.get("result")
                started[entry["id"]]["result"] = result if isinstance(result, dict) else {}
        for record in order:
            self._pending.setdefault(record["key"], deque()).append(record)
        return len(order)

    async def once(
        self,
        agent: str,
        kind: str,
        key: str,
        what: str,
        act: Callable[[], Awaitable[dict[str, Any]]],
    ) -> Done | NotRepeated:
        """Do `act` (which returns its result as JSON data) once in the life of the run:
        journaled before and after, or its recorded result when a resumed round asks again."""
        queue = self._pending.get(key)
        if queue:
            record = queue.popleft()
            if not queue:
                del self._pending[key]
            if record["result"] is not None:
                self._emit(agent, kind, key, what, "replayed")
                return Done(record["result"], replayed=True)
            if not await self._repeat_allowed(agent, kind, what):
                self._emit(agent, kind, key, what, "not_repeated")
                return NotRepeated(
                    f"{what} started before the run was interrupted, and whether it finished "
                    "is not known; it was not done again (nobody said to repeat it). Check "
                    "its effect before doing it again"
                )
        self._counter += 1
        entry_id = f"{os.getpid()}-{self._counter}"
        await self._write({"id": entry_id, "state": "started", "key": key, "agent": agent,
                           "kind": kind, "what": what})  # fmt: skip
        result = await act()
        await self._write({"id": entry_id, "state": "done", "result": result})
        self._emit(agent, kind, key, what, "done")
        return Done(result)

    async def _repeat_allowed(self, agent: str, kind: str, what: str) -> bool:
        if self.control is None:
            return False
        decision = await self.control.approval(
            agent,
            "repeat_side_effect",
            f"Before the run was interrupted, {agent} started this ({kind}), and its result "
            f"was not recorded; it may have happened already:\n{what}\nDo it again?",
        )
        return decision.allowed

    def _emit(self, agent: str, kind: str, key: str, what: str, outcome: str) -> None:
        self.events.emit(
            SideEffectRecorded(agent=agent, effect=kind, key=key, what=what, outcome=outcome)
        )

    async def _write(self, entry: dict[str, Any]) -> None:
        """Append one line before going on. A journal that cannot be written is said once
        and given up: the run goes on, only a resume could repeat the action."""
        await self.file.append(secrets.redact_values(entry))
