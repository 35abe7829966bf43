"""TraceWriter: the event subscriber that writes `trace.jsonl` and its attachments.

Disk writes happen on one background thread, in order, so emitting an event never blocks the
event loop. Secrets are scrubbed from every line: the values of the API keys in use, and
anything shaped like a provider key.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterable
from pathlib import Path

from magentic.events import Event

_KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,})")
REDACTED = "[redacted]"
_STOP = object()


class TraceWriter:
    def __init__(self, run_dir: Path, secrets: Iterable[str] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "trace.jsonl"
        self.attachments_dir = self.run_dir / "attachments"
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[object] = queue.Queue()
        self._file = self.path.open("a", encoding="utf-8")
        self._thread = threading.Thread(target=self._drain, name="trace-writer", daemon=True)
        self._thread.start()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _KEY_SHAPES.sub(REDACTED, text)

    def __call__(self, event: Event) -> None:
        files: list[tuple[Path, bytes]] = []
        for attachment in event.attachments:
            name = f"{event.seq:05d}-{_safe(attachment.name)}"
            files.append((self.attachments_dir / name, attachment.data))
            event.attachment_paths.append(f"attachments/{name}")
        self._queue.put((files, self.scrub(event.model_dump_json())))

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            files: list[tuple[Path, bytes]]
            line: str
            files, line = item  # type: ignore[misc]
            for path, data in files:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        """Write what is queued and close the file; safe to call twice."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if not self._file.closed:
            self._file.close()


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
