"""An append-only file of JSON lines kept beside a run's checkpoint: the journals.

The model-call journal (`llm/journal.py`) and the side-effect journal (`control/effects.py`)
share one discipline: each line is on disk (owner-only, never written through a link) before
the run goes on; a file that cannot be written is said once and given up, since the run can
go on without it; and on resume the lines after the checkpoint's offset are read back, a
line cut short by a kill dropped from the file so the next entry starts on a line of its own.
What the lines mean is each journal's own business.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from magentic import safe_fs

log = logging.getLogger(__name__)


class JsonlLog:
    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what  # how a warning names it: "the model call journal"
        try:
            self.size = self.path.stat().st_size  # bytes of whole entries written so far
        except OSError:
            self.size = 0
        self._broken = False

    def lines_after(self, offset: int) -> list[bytes]:
        """The whole lines written after byte `offset` (blocking), read without following a
        link; a cut last line is dropped from the file and from `size`."""
        try:
            with safe_fs.open_nofollow(self.path) as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            return []
        whole, _, cut = data.rpartition(b"\n")
        if cut:
            self.size = offset + len(whole) + (1 if whole else 0)
            with self.path.open("r+b") as handle:
                handle.truncate(self.size)
        return whole.splitlines()

    async def append(self, entry: dict[str, Any]) -> None:
        """Append one entry (already redacted) before going on."""
        if self._broken:
            return
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        try:
            await asyncio.to_thread(safe_fs.append_private, self.path, line)
        except OSError as error:
            self._broken = True
            log.warning("%s %s cannot be written: %s", self.what, self.path, error)
            return
        self.size += len(line)
