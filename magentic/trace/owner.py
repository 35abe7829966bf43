"""Which process writes a trace, so a reader can tell a run in progress from one whose
process died (killed, out of memory, the machine rebooted) before writing `run_finished`.

The trace writer puts `writer.json` beside `trace.jsonl` when it opens the trace: the pid,
the host, the boot id, the pid namespace and the process's start time (a pid is reused; the
pair is not). It marks the file `closed` when it closes the trace. A reader on the same
machine asks the kernel whether that process still lives; a reader elsewhere (a trace on a
shared disk) cannot, and judges by how long the trace has been silent instead.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Literal

from magentic.safe_fs import open_private

OWNER = "writer.json"
# A run elsewhere whose trace has not grown for this long is taken as lost: a round that
# runs longer than this writes nothing for longer than any model call or tool may take.
QUIET_S = 30 * 60.0
# alive: its process runs; gone: its process is dead; closed: the writer closed the trace
# without a run_finished; silent: written elsewhere (or before writer.json) and quiet too
# long; unknown: written elsewhere, and recently.
Verdict = Literal["alive", "gone", "closed", "silent", "unknown"]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """A process's state letter and start time (clock ticks after boot), on Linux."""
    text = _read(f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


@functools.cache
def _machine() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "boot_id": _read("/proc/sys/kernel/random/boot_id"),
        "pid_ns": _pid_namespace(),
    }


def current() -> dict[str, Any]:
    """This process, as `writer.json` records it."""
    pid = os.getpid()
    stat = _proc_stat(pid)
    return {
        "pid": pid,
        **_machine(),
        "start_ticks": stat[1] if stat else None,
        "opened": time.time(),
        "closed": False,
    }


def write(run_dir: Path, owner: dict[str, Any]) -> None:
    """Write `writer.json` whole (a reader never sees half of it)."""
    path = Path(run_dir) / OWNER
    partial = path.with_name(f".{OWNER}.{os.getpid()}")
    with open_private(partial) as file:  # 0600, as every file of a run folder
        file.write(json.dumps(owner) + "\n")
    os.replace(partial, path)


def read(run_dir: Path) -> dict[str, Any] | None:
    text = _read(str(Path(run_dir) / OWNER))
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _same_machine(owner: dict[str, Any], here: dict[str, Any]) -> bool | None:
    """True: same kernel and pid namespace; False: another boot of this host (so the
    process is gone); None: another machine or container, where pids mean nothing here."""
    if owner.get("host") != here["host"]:
        return None
    for key in ("pid_ns", "boot_id"):
        if owner.get(key) and here[key] and owner[key] != here[key]:
            return False if key == "boot_id" else None
    return True


def process_alive(pid: int, start_ticks: int | None) -> bool:
    """Whether `pid` is still the process that started at `start_ticks` (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    except OSError:
        return False
    stat = _proc_stat(pid)
    if stat is None:  # no /proc: the signal test is all there is
        return True
    state, started = stat
    if state in ("Z", "X"):
        return False
    return start_ticks is None or started == start_ticks


def verdict(run_dir: Path, trace_mtime: float, *, now: float | None = None) -> Verdict:
    """What a trace without `run_finished` means (see `Verdict`); `trace_mtime` is when the
    trace last grew."""
    owner = read(run_dir)
    silent = (time.time() if now is None else now) - trace_mtime
    if owner is None:
        return "silent" if silent > QUIET_S else "unknown"
    if owner.get("closed"):
        return "closed"
    same = _same_machine(owner, _machine())
    if same is None:
        return "silent" if silent > QUIET_S else "unknown"
    if same is False:
        return "gone"
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return "unknown"
    start = owner.get("start_ticks")
    return "alive" if process_alive(pid, start if isinstance(start, int) else None) else "gone"
