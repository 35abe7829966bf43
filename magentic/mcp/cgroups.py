"""A cgroup (v2) per stdio MCP server, where the machine lets us make one.

A process group is left by `setsid`, and a process tree by a double fork; a cgroup is left
by nothing a process can do without privileges, and writing "1" to its `cgroup.kill` ends
every process in it at once. So each server's keeper (`launcher.py`) joins a cgroup of its
own, made below the cgroup magentic runs in, and closing the server, or the next start's
sweep of leftovers, kills the cgroup whole.

Where cgroup v2 is missing or not writable (no root, no delegation), `make` returns None
and the other layers (the keeper as subreaper, the process group, the sweep by token) hold.
Blocking (a few file operations): callers in async code use `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "magentic-mcp-"


@functools.cache
def _base() -> Path | None:
    """The folder of the cgroup this process runs in, on the cgroup2 mount, or None."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        own = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    mount = next((line.split()[4] for line in mounts if " - cgroup2 " in line), None)
    path = next((line[3:] for line in own if line.startswith("0::")), None)
    if mount is None or path is None:
        return None
    base = Path(mount) / path.lstrip("/")
    return base if (base / "cgroup.procs").exists() else None


def make(token: str) -> Path | None:
    """A new, empty cgroup for one server, or None where we may not make one."""
    if os.environ.get("MAGENTIC_MCP_NO_CGROUP"):  # a switch to run without (tests, odd hosts)
        return None
    base = _base()
    if base is None:
        return None
    folder = base / f"{PREFIX}{token}"
    try:
        folder.mkdir(mode=0o755)
    except OSError as error:
        log.debug("no cgroup for MCP servers (%s): the other layers hold", error)
        return None
    return folder


def available() -> bool:
    """Whether this process may make cgroups for its servers (made and removed to see)."""
    folder = make(f"probe-{os.getpid()}")
    return folder is not None and kill(folder)


def members(folder: Path) -> list[int]:
    try:
        return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def kill(folder: Path, wait_s: float = 3.0) -> bool:
    """Kill every process in the cgroup and remove it; whether it is gone."""
    if not folder.is_dir():
        return True
    until = time.monotonic() + wait_s
    while True:
        try:
            (folder / "cgroup.kill").write_text("1")
        except OSError:  # a kernel before 5.14: one by one (a killed process cannot fork)
            for pid in members(folder):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:  # busy: the killed processes are still on their way out
            if time.monotonic() >= until:
                return False
        time.sleep(0.01)
