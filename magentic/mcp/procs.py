"""No MCP server process outlives its run: a process group per server, killed whole.

A stdio server is started in a session of its own (its pid is its process group), so
whatever it spawns goes with it. `close()` kills the group; a run that is cancelled or
crashes still closes its servers in its finally block; and for the exits that skip finally
blocks (the hard exit after a second Ctrl-C or a stuck stop, see `magentic.stopping`) an
`atexit` hook kills every group this process still owns. Killing is SIGKILL: a server gets
its grace period (stdin closed, SIGTERM) before, in the connection's own close.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import threading
import time
from pathlib import Path

_live: set[int] = set()  # process group ids of servers this process started
_lock = threading.Lock()
_hook_installed = False


def track(pgid: int) -> None:
    global _hook_installed
    with _lock:
        _live.add(pgid)
        if not _hook_installed:
            atexit.register(kill_all)
            _hook_installed = True


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group; one that is gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    if sig == signal.SIGKILL:
        with _lock:
            _live.discard(pgid)


def members(pgid: int) -> list[int]:
    """The live processes of a group, from /proc (zombies are not counted: they are dead
    and only wait to be reaped). Blocking: a few ms."""
    found: list[int] = []
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:  # no /proc (not Linux): nothing to wait for
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            found.append(int(entry.name))
    return found


async def wait_gone(pgid: int, timeout_s: float = 3.0) -> bool:
    """Wait until no process of the group runs (a SIGKILL takes effect a moment later),
    so that when a close returns, the processes are really gone."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout_s
    while await asyncio.to_thread(members, pgid):
        if loop.time() >= until:
            return False
        await asyncio.sleep(0.02)
    return True


def live_groups() -> set[int]:
    with _lock:
        return set(_live)


def kill_all(wait_s: float = 1.0) -> None:
    """The exit path: SIGKILL every server group this process still owns, and wait (a
    little) until they are gone, so none is still running when this process has left."""
    groups = live_groups()
    for pgid in groups:
        kill_group(pgid)
    until = time.monotonic() + wait_s
    while any(members(pgid) for pgid in groups) and time.monotonic() < until:
        time.sleep(0.02)
