"""No MCP server process outlives its run, not even a `kill -9` of magentic. In layers:

- each stdio server runs under a keeper (`launcher.py`) in a session of its own: the
  keeper's pid is the process group, and the keeper dies with magentic's spawning thread
  (`PR_SET_PDEATHSIG`), as a subreaper that kills the server's whole tree, `setsid`
  grandchildren included, when it goes;
- a cgroup per server where the machine allows one (`cgroups`): closing kills it whole;
- `close()` kills the group and the cgroup; a run that is cancelled or crashes still closes
  its servers in its finally block; for the exits that skip finally blocks (the hard exit
  after a second Ctrl-C, see `magentic.stopping`) an `atexit` hook does the same;
- a record of each running server (`leftovers`), swept at the next start, for when the
  keeper was killed outright too.
Killing is SIGKILL: a server gets its grace period (stdin closed, SIGTERM) before, in the
connection's own close.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from magentic.mcp import cgroups, leftovers

log = logging.getLogger(__name__)

_live: set[int] = set()  # process group ids of servers this process started
_servers: dict[int, Server] = {}  # by process group id: what else there is to end
_lock = threading.Lock()
_hook_installed = False
_swept = False


@dataclass(frozen=True)
class Server:
    """One started server, as its cleanup knows it."""

    pgid: int  # the keeper's pid
    token: str
    cgroup: Path | None


def track(pgid: int, token: str = "", cgroup: Path | None = None) -> None:
    """Note a started server; with a token, also leave a record for the next start's sweep."""
    global _hook_installed
    with _lock:
        _live.add(pgid)
        if token:
            _servers[pgid] = Server(pgid, token, cgroup)
        if not _hook_installed:
            atexit.register(kill_all)
            _hook_installed = True
    if token:
        try:
            leftovers.write(token, pgid, cgroup)
        except OSError as error:  # no state folder: the other layers still hold
            log.warning("cannot record MCP server %d: %s", pgid, error)


def end(pgid: int) -> None:
    """After the group is killed: kill its cgroup (whatever left the group) and forget it.
    Blocking (up to a few ms, more if the cgroup is slow to empty)."""
    with _lock:
        server = _servers.pop(pgid, None)
    if server is None:
        return
    if server.cgroup is not None:
        cgroups.kill(server.cgroup)
    else:  # no cgroup: what left the group and outlived a killed keeper, by its token
        for _ in range(50):
            found = leftovers.carrying({server.token})
            if not found:
                break
            for pid in found:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
    leftovers.remove(server.token)


async def sweep_once() -> None:
    """The first server start of this process ends what killed runs left (`leftovers`)."""
    global _swept
    if _swept:
        return
    _swept = True
    try:
        await asyncio.to_thread(leftovers.sweep)
    except OSError as error:
        log.warning("sweeping leftover MCP servers failed: %s", error)


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
        end(pgid)
    until = time.monotonic() + wait_s
    while any(members(pgid) for pgid in groups) and time.monotonic() < until:
        time.sleep(0.02)
