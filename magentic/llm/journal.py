"""The run's journal of model calls, so a resumed run never asks the model again what it
already answered.

A checkpoint is taken between rounds; a process killed in the middle of a round has already
had some of that round's answers (the progress ledger, a tool choice) and paid for them. On
resume the round starts again from the checkpoint and makes the very same requests, byte for
byte. Every answered call is therefore appended to `calls.jsonl` in the run folder as it
comes back (its request key, the reply and its usage), and the checkpoint records how far
the journal went. A resumed run loads the entries written after that point and answers a
request with the same key from them, in order, once each: the model is not asked again, and
the call's cost, which the checkpoint never counted, is counted now.

Only the entries after the last checkpoint are used, so a later request that happens to
repeat an older one is still asked live. A line cut by the kill is ignored.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from magentic import secrets
from magentic.jsonl_log import JsonlLog

FILE_NAME = "calls.jsonl"


class CallJournal:
    def __init__(self, path: Path) -> None:
        self.file = JsonlLog(path, "the model call journal")
        self._pending: dict[str, deque[dict[str, Any]]] = {}

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def size(self) -> int:
        """Bytes of whole entries written so far (the checkpoint's offset)."""
        return self.file.size

    def replay_from(self, offset: int) -> int:
        """Answer from the entries written after byte `offset` (blocking: call it before the
        run starts, or in a thread). Returns how many there are."""
        count = 0
        for line in self.file.lines_after(offset):
            try:
                entry = json.loads(line)
                key, record = entry["key"], entry["record"]
            except (ValueError, KeyError, TypeError, RecursionError):  # a planted line
                continue
            if isinstance(key, str) and isinstance(record, dict):
                self._pending.setdefault(key, deque()).append(record)
                count += 1
        return count

    def take(self, key: str) -> dict[str, Any] | None:
        """The journaled reply to this request, once, or None to ask the model."""
        queue = self._pending.get(key)
        if not queue:
            return None
        record = queue.popleft()
        if not queue:
            del self._pending[key]
        return record

    async def record(self, key: str, record: dict[str, Any]) -> None:
        """Append one answered call. A journal that cannot be written is said once and
        given up: the run goes on, only a resume would ask that round again."""
        await self.file.append({"key": key, "record": secrets.redact_values(record)})
