"""TraceWriter: the event subscriber that writes `trace.jsonl` and its attachments.

Disk writes happen on one background thread, in order, so emitting an event never blocks the
event loop. Every line passes through `magentic.secrets.redact` (the API keys in use, the
environment's tokens, anything shaped like a provider key), and an event that cannot be
encoded (a file name's undecodable bytes) is written with those bytes escaped rather than
lost. A process that must exit hard (`magentic.stopping`) calls `finish_all` so each open
trace still ends with its `run_finished` line.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from magentic import secrets
from magentic.events import Event, RunFinished
from magentic.safe_fs import open_private, private_dir
from magentic.text import escape_surrogates
from magentic.trace import owner

log = logging.getLogger(__name__)
REDACTED = secrets.REDACTED
_STOP = object()
_open_writers: weakref.WeakSet[TraceWriter] = weakref.WeakSet()


class TraceWriter:
    def __init__(self, run_dir: Path, secrets: Iterable[str] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "trace.jsonl"
        self.attachments_dir = self.run_dir / "attachments"
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        _register_secrets(self.secrets)
        private_dir(self.run_dir)  # 0700: the trace holds the task, pages and files
        self._queue: queue.Queue[object] = queue.Queue()
        self._file = open_private(self.path, "a")
        self._owner = owner.current()  # who writes: lets a reader tell a dead run (owner.py)
        self._mark_owner()
        self._file_lock = threading.Lock()
        self._finished = False  # a run_finished line was queued
        self._write_failed = False  # said once in the log
        self._last: tuple[str, int] = ("", 0)  # run id and seq of the last event
        self._thread = threading.Thread(target=self._drain, name="trace-writer", daemon=True)
        self._thread.start()
        _open_writers.add(self)

    def _mark_owner(self, *, closed: bool = False) -> None:
        self._owner["closed"] = closed
        try:
            owner.write(self.run_dir, self._owner)
        except OSError as error:  # the trace matters; this note about it does not
            log.debug("cannot write %s in %s: %s", owner.OWNER, self.run_dir, error)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return secrets.redact(text)

    def __call__(self, event: Event) -> None:
        if event.ephemeral:  # streamed text: the ModelCalled and reply that follow hold it
            return
        files: list[tuple[Path, bytes]] = []
        for attachment in event.attachments:
            name = f"{event.seq:05d}-{_safe(attachment.name)}"
            files.append((self.attachments_dir / name, attachment.data))
            event.attachment_paths.append(f"attachments/{name}")
        self._finished = self._finished or isinstance(event, RunFinished)
        self._last = (event.run_id, event.seq)
        self._queue.put((files, self.scrub(_to_json(event))))

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if isinstance(item, threading.Event):
                item.set()
                continue
            files: list[tuple[Path, bytes]]
            line: str
            files, line = item  # type: ignore[misc]
            try:
                for path, data in files:
                    private_dir(path.parent)
                    with open_private(path, "wb") as file:
                        file.write(data)
                self._write(line)
            except (OSError, ValueError) as error:  # a full disk, or closed by finish()
                if not self._write_failed:
                    self._write_failed = True
                    log.error("the trace %s could not be written: %s", self.path, error)

    def _write(self, line: str) -> None:
        with self._file_lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def finish(self, reason: str, *, timeout: float = 2.0) -> None:
        """For a hard exit: write what is queued (waiting at most `timeout`), then, unless the
        run wrote its own, a `run_finished` line saying why the run ended, and close."""
        drained = threading.Event()
        self._queue.put(drained)
        drained.wait(timeout)
        if not self._finished:
            run_id, seq = self._last
            end = RunFinished(status="cancelled", stop_reason=reason, run_id=run_id, seq=seq + 1)
            self._finished = True
            self._write(self.scrub(_to_json(end)))
        self._close_file()

    def _close_file(self) -> None:
        with self._file_lock:
            if self._file.closed:
                return
            self._file.close()
        self._mark_owner(closed=True)

    def close(self) -> None:
        """Write what is queued and close the file; safe to call twice."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._close_file()
        _open_writers.discard(self)


def finish_all(reason: str, *, timeout: float = 2.0) -> None:
    """`finish` every trace still open in this process, within about `timeout` in all."""
    deadline = time.monotonic() + timeout
    for writer in list(_open_writers):
        writer.finish(reason, timeout=max(0.1, deadline - time.monotonic()))


def _register_secrets(values: list[str]) -> None:
    """The keys a trace scrubs are secrets for every other sink too."""
    secrets.register(values)


def _to_json(event: Event) -> str:
    """The event as one JSON line; undecodable file-name bytes become visible escapes."""
    try:
        return event.model_dump_json()
    except ValueError:  # pydantic's serialization error: a lone surrogate in some string
        fields = _escaped(event.model_dump(mode="python"))
        return json.dumps(fields, ensure_ascii=False, default=str)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape_surrogates(value)
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return value


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80] or "file"


def read_trace(path: Path) -> list[Event]:
    """The events of a trace file (a run folder or its trace.jsonl), in order."""
    from magentic.events import load_event

    path = Path(path)
    if path.is_dir():
        path = path / "trace.jsonl"
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            events.append(load_event(line))
    return events


def continue_trace(path: Path, *, tail_bytes: int = 1 << 20) -> int:
    """Make a trace ready to be appended to by a resumed run; return its last event's seq.

    A process killed mid-write may leave a partial last line: it is cut off (the event it
    began was lost with the process), so the trace stays one JSON object a line. Only the
    file's tail is read. Blocking: call it in a thread. 0 when there is no trace."""
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open("rb+") as file:
        size = file.seek(0, 2)
        start = max(0, size - tail_bytes)
        file.seek(start)
        tail = file.read()
        if tail and not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            keep = start + cut + 1 if cut >= 0 else start
            file.truncate(keep)
            tail = tail[: keep - start]
    for line in reversed(tail.splitlines()):
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError, RecursionError):
            continue
        if isinstance(seq, int):
            return seq
    return 0
