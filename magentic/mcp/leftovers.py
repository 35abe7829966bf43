"""What a `kill -9` of magentic may leave, found and ended at the next start.

The keeper of each server dies with magentic (`PR_SET_PDEATHSIG`) and takes the server's
whole tree with it, so usually nothing is left. But the keeper itself can be killed
outright too (a `kill -9` of everything, the OOM killer, a hostile server killing its
parent). For that, every stdio server leaves a record while it runs, in a state folder
(`$MAGENTIC_STATE_DIR`, else `$XDG_STATE_HOME/magentic`, else `~/.local/state/magentic`):
the owner's pid and start time, the keeper's pid and start time, its cgroup, and a token
that every process of the server inherits in its environment (`MAGENTIC_MCP_SERVER`).

The first server start of each process sweeps: a record whose owner is gone (no such pid,
or a pid reused by another process, told apart by start time) has its cgroup killed, its
keeper killed if it is still the same process, and every process whose environment carries
its token killed. A clean close removes its own record. As `execution/docker_cleanup`
does for containers. Blocking: async callers use `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from magentic.mcp import cgroups

log = logging.getLogger(__name__)

TOKEN_VAR = "MAGENTIC_MCP_SERVER"


@dataclass(frozen=True)
class Record:
    token: str
    owner_pid: int
    owner_start: int
    pid: int  # the keeper's
    start: int
    cgroup: str | None


def state_dir() -> Path:
    """The folder of records, made owner-only (a record names processes to kill)."""
    base = os.environ.get("MAGENTIC_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "magentic"
    )
    folder = Path(base) / "mcp-servers"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def start_time(pid: int) -> int | None:
    """A process's start time (clock ticks since boot), which tells a reused pid apart;
    None if it is gone or only a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def write(token: str, pid: int, cgroup: Path | None) -> None:
    record = Record(
        token,
        os.getpid(),
        start_time(os.getpid()) or 0,
        pid,
        start_time(pid) or 0,
        str(cgroup) if cgroup else None,
    )
    path = state_dir() / f"{token}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(record), out)


def remove(token: str) -> None:
    with contextlib.suppress(OSError):
        (state_dir() / f"{token}.json").unlink()


def _records(folder: Path) -> list[tuple[Path, Record]]:
    found = []
    for path in folder.glob("*.json"):
        try:
            if path.lstat().st_uid != os.getuid():  # a record names processes to kill: ours only
                continue
            found.append((path, Record(**json.loads(path.read_text()))))
        except (OSError, ValueError, TypeError):
            log.debug("skipped an unreadable record %s", path)
    return found


def carrying(tokens: set[str]) -> list[int]:
    """Processes whose environment holds one of `tokens` (only our own are readable)."""
    wanted = {f"{TOKEN_VAR}={t}".encode() for t in tokens}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted.intersection(env) and _ours(int(entry.name)):
            found.append(int(entry.name))
    return found


def _ours(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}").st_uid == os.getuid()
    except OSError:
        return False


def sweep(folder: Path | None = None) -> list[int]:
    """End what dead owners left; the pids killed (the cgroups' members included)."""
    folder = folder or state_dir()
    stale = [(path, r) for path, r in _records(folder) if start_time(r.owner_pid) != r.owner_start]
    if not stale:
        return []
    killed: list[int] = []
    for _, record in stale:
        if record.cgroup and Path(record.cgroup).name.startswith(cgroups.PREFIX):
            group = Path(record.cgroup)
            killed += cgroups.members(group)
            cgroups.kill(group)
        if start_time(record.pid) == record.start and _ours(record.pid):
            killed.append(record.pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record.pid, signal.SIGKILL)
    for _ in range(50):  # what carries a stale token, until none is left (no fork after KILL)
        found = carrying({r.token for _, r in stale})
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed += found
    for path, _ in stale:
        with contextlib.suppress(OSError):
            path.unlink()
    if killed:
        log.warning("ended %d MCP server processes a killed run left behind", len(set(killed)))
    return sorted(set(killed))
