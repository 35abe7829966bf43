"""No sandbox container outlives its run: labels, a registry, an exit hook and a sweep.

Every container carries `magentic.owner=1`, the host and the pid of the process that made
it. A normal run removes its container in `close()`; Ctrl-C and crashes that still run
Python's exit hooks are covered by `atexit` (and SIGTERM, when nobody else handles it);
a process that died outright (SIGKILL, power loss) leaves containers that the next start
on the same host sweeps because their owner pid is gone. A keep-alive with a lifetime cap
ends even those on a host that never runs magentic again.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)

OWNER_LABEL = "magentic.owner"
PID_LABEL = "magentic.pid"
HOST_LABEL = "magentic.host"
RUN_LABEL = "magentic.run"

_live: dict[str, Any] = {}  # container id -> the docker APIClient that made it
_lock = threading.Lock()
_hooks_installed = False


def labels(run_id: str) -> dict[str, str]:
    return {
        OWNER_LABEL: "1",
        PID_LABEL: str(os.getpid()),
        HOST_LABEL: socket.gethostname(),
        RUN_LABEL: run_id,
    }


def track(container_id: str, api: Any) -> None:
    with _lock:
        _live[container_id] = api
    install_hooks()


def untrack(container_id: str) -> None:
    with _lock:
        _live.pop(container_id, None)


def remove_now(api: Any, container_id: str) -> None:
    """Force-remove (kill and delete) a container; gone already is fine. Blocking."""
    import docker.errors

    try:
        api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        # 409: auto-remove is already under way after the container stopped by itself
        if exc.status_code != 409:
            raise
    finally:
        untrack(container_id)


def sweep_stale(api: Any) -> list[str]:
    """Remove this host's labelled containers whose owner process is gone. Blocking."""
    removed = []
    host = socket.gethostname()
    for info in api.containers(all=True, filters={"label": [f"{OWNER_LABEL}=1"]}):
        tags = info.get("Labels") or {}
        if tags.get(HOST_LABEL) != host or _alive(tags.get(PID_LABEL, "")):
            continue
        with contextlib.suppress(Exception):
            remove_now(api, info["Id"])
            removed.append(info["Id"])
    if removed:
        log.info("removed %d stale sandbox container(s) of processes that died", len(removed))
    return removed


def _alive(pid_text: str) -> bool:
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_all_live() -> None:
    """The exit path: remove every container this process still owns. Blocking."""
    with _lock:
        items = list(_live.items())
    for container_id, api in items:
        with contextlib.suppress(Exception):
            remove_now(api, container_id)


def install_hooks() -> None:
    """Register the exit path once. Call it from the main thread too: only there can the
    SIGTERM handler be set (track() may run in a worker thread)."""
    global _hooks_installed
    on_main = threading.current_thread() is threading.main_thread()
    if _hooks_installed and not on_main:
        return
    if not _hooks_installed:
        atexit.register(remove_all_live)
    _hooks_installed = True
    # SIGTERM normally ends Python without exit hooks; when nobody else handles it, clean
    # up first and then die of the same signal, as the sender expects.
    if on_main and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: object) -> None:
    remove_all_live()
    from magentic.execution import quota  # a leaf module; imported here to keep this one lean

    quota.detach_all()  # after the containers, which hold the workspace's mount
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
