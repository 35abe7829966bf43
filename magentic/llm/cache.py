"""Record and replay of model calls, in one sqlite file.

Keyed by the canonical request (model, messages, tools, response format, sampling settings;
not the URL or the key), so a run recorded against one endpoint replays offline against none.
In replay mode a request that was never recorded is an error, never a silent live call.

When the same request is made more than once in a run (a re-ask that happens to repeat, a
replanned step), each occurrence is stored under its own ordinal, so replay returns the
replies in the order they were recorded.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Literal

from magentic.errors import ReplayMissError

CacheMode = Literal["off", "read_write", "replay"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now')),
    PRIMARY KEY (key, ordinal)
)
"""


class ModelCache:
    """One cache file, shared by every client of a run (and safe across threads)."""

    def __init__(self, path: Path, mode: CacheMode) -> None:
        self.path = Path(path)
        self.mode = mode
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # how many times each key was asked in this process
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        return self._db

    def _next_ordinal(self, key: str) -> int:
        ordinal = self._seen.get(key, 0)
        self._seen[key] = ordinal + 1
        return ordinal

    def _lookup(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            ordinal = self._next_ordinal(key)
            db = self._connect()
            row = db.execute(
                "SELECT response FROM calls WHERE key = ? AND ordinal = ?", (key, ordinal)
            ).fetchone()
            if row is None and ordinal > 0 and self.mode == "replay":
                # Replay asked more often than recorded: the last answer is the best guess.
                row = db.execute(
                    "SELECT response FROM calls WHERE key = ? ORDER BY ordinal DESC LIMIT 1",
                    (key,),
                ).fetchone()
            if row is None:
                self._seen[key] = ordinal  # a miss did not consume a slot
                return None
            return dict(json.loads(row[0]))

    def _store(self, key: str, record: dict[str, Any]) -> None:
        with self._lock:
            ordinal = self._seen.get(key, 1) - 1
            db = self._connect()
            db.execute(
                "INSERT OR REPLACE INTO calls (key, ordinal, response) VALUES (?, ?, ?)",
                (key, max(ordinal, 0), json.dumps(record)),
            )
            db.commit()

    async def get(self, key: str) -> dict[str, Any] | None:
        if self.mode == "off":
            return None
        found = await asyncio.to_thread(self._lookup, key)
        if found is None and self.mode == "replay":
            raise ReplayMissError(
                f"replay-only mode: this model request was never recorded in {self.path} "
                f"(key {key[:12]}); record it first with --cache read_write"
            )
        if found is None:
            # A miss in read_write mode: reserve the ordinal the live answer will be stored at.
            with self._lock:
                self._next_ordinal(key)
        return found

    async def put(self, key: str, record: dict[str, Any]) -> None:
        if self.mode != "read_write":
            return
        await asyncio.to_thread(self._store, key, record)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
