"""Streamed model text of runs in this process (`run --ui`, `bench --ui`), which the trace
never holds, on its way to the pages that follow those runs.

The text is redacted here, once, before any follower gets it, by the rules the trace uses
(`magentic.secrets`). A streamed reply arrives in pieces, and a key may be cut between two
of them, where neither piece alone looks like anything: so each call's text is held back
from its last whitespace on (and from any known secret begun before it), and released,
redacted, when the rest of the word has come or the call ends (`ModelCalled`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from magentic.secrets import redact, releasable

_MAX_QUEUED = 1000  # a reader that stopped reading loses text, not memory


@dataclass
class _Call:
    held: str = ""  # text received but not yet shown
    shown: int = 0  # characters shown so far (redacted), the page's `chars`


class Streams:
    """`push` takes a run's events (a bus subscriber); each follower of that run gets the
    redacted text of its model calls as `{"role", "text", "chars"}` deltas."""

    def __init__(self) -> None:
        self._queues: dict[str, list[asyncio.Queue[dict[str, Any]]]] = {}
        self._calls: dict[tuple[str, str], _Call] = {}

    def push(self, event: Any) -> None:
        kind = event.kind
        if kind not in ("model_delta", "model_called", "model_call_failed"):
            return
        where = (event.run_id, event.role)
        if kind == "model_call_failed":  # the retry starts its text afresh
            self._calls.pop(where, None)
            return
        if kind == "model_called":  # the call is over: what was held is whole now
            call = self._calls.pop(where, None)
            if call is not None and call.held:
                self._send(event.run_id, event.role, call, len(call.held))
            return
        if event.chars == len(event.text) or where not in self._calls:  # a call starts
            self._calls[where] = _Call()
        call = self._calls[where]
        call.held += event.text
        cut = releasable(call.held)
        if cut:
            self._send(event.run_id, event.role, call, cut)

    def _send(self, run_id: str, role: str, call: _Call, cut: int) -> None:
        text, call.held = redact(call.held[:cut]), call.held[cut:]
        call.shown += len(text)
        delta = {"role": role, "text": text, "chars": call.shown}
        for queue in self._queues.get(run_id, []):
            if queue.qsize() < _MAX_QUEUED:
                queue.put_nowait(dict(delta))

    def open(self, run_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queues.setdefault(run_id, []).append(queue)
        return queue

    def close(self, run_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        queues = self._queues.get(run_id, [])
        if queue in queues:
            queues.remove(queue)
        if not queues:
            self._queues.pop(run_id, None)


def merge_deltas(deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive deltas of one call as one: same role, and the later one not the start of
    a new call (a delta whose `chars` equals its own length starts one)."""
    merged: list[dict[str, Any]] = []
    for delta in deltas:
        last = merged[-1] if merged else None
        fresh = delta["chars"] == len(delta["text"])
        if last is not None and last["role"] == delta["role"] and not fresh:
            last["text"] += delta["text"]
            last["chars"] = delta["chars"]
        else:
            merged.append(dict(delta))
    return merged
