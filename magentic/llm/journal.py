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

import asyncio
import json
import logging
from collections import deque
from pathlib import Path
from typing import Any

from magentic import safe_fs, secrets

log = logging.getLogger(__name__)

FILE_NAME = "calls.jsonl"


class CallJournal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.size = self.path.stat().st_size  # bytes of whole entries written so far
        except OSError:
            self.size = 0
        self._pending: dict[str, deque[dict[str, Any]]] = {}
        self._broken = False

    def replay_from(self, offset: int) -> int:
        """Answer from the entries written after byte `offset` (blocking: call it before the
        run starts, or in a thread). Returns how many there are."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            return 0
        whole, _, cut = data.rpartition(b"\n")
        if cut:  # the kill's half line: dropped, and the next entry starts on its own line
            self.size = offset + len(whole) + (1 if whole else 0)
            with self.path.open("r+b") as handle:
                handle.truncate(self.size)
        count = 0
        for line in whole.splitlines():
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
        if self._broken:
            return
        entry = {"key": key, "record": secrets.redact_values(record)}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        try:
            await asyncio.to_thread(self._append, line)
        except OSError as error:
            self._broken = True
            log.warning("the model call journal %s cannot be written: %s", self.path, error)
            return
        self.size += len(line)

    def _append(self, line: bytes) -> None:
        safe_fs.append_private(self.path, line)
