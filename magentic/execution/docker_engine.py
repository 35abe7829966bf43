"""Talking to the Docker engine: one client per engine address, and the engine's own word
on whether it is there, whether a container runs, and how often memory killed in it.

Kept apart from the executor so that its decisions (replace the container, report the
engine gone, blame the memory limit) rest on these answers, never on an error's wording.
Everything here blocks: call it through asyncio.to_thread.
"""

from __future__ import annotations

import os
import re
from typing import Any

from magentic.errors import SandboxError
from magentic.execution.base import SandboxUnavailable

_clients: dict[str, Any] = {}
_PING_TIMEOUT_S = 3.0
_OOM = re.compile(r"oom_kill (\d+)")
_OOM_PROBE = [
    "sh",
    "-c",
    "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null; true",
]


def api() -> Any:
    """One Docker API client per engine address (DOCKER_HOST) and process (it pools
    connections); a SandboxError saying how to start the engine when none answers."""
    address = os.environ.get("DOCKER_HOST", "")
    if address not in _clients:
        try:
            import docker
        except ImportError as exc:
            raise SandboxError(
                "the docker package is missing: pip install 'magentic-team[sandbox]'"
            ) from exc
        try:
            client = docker.from_env(timeout=60)
            client.api.ping()
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(
                "cannot reach the Docker engine; start it (scripts/install --docker) or use "
                f"--sandbox bwrap ({str(exc).splitlines()[0][:160]})"
            ) from exc
        _clients[address] = client.api
    return _clients[address]


def engine_answers(client: Any) -> bool:
    """Whether the engine answers a ping within a few seconds."""
    try:
        return bool(client.get(f"{client.base_url}/_ping", timeout=_PING_TIMEOUT_S).ok)
    except Exception:
        return False


def container_state(client: Any, container_id: str) -> str:
    """'running', or what the container is instead ('gone', 'exited', ...)."""
    import docker.errors

    try:
        info = client.inspect_container(container_id)
    except docker.errors.APIError as exc:
        return "gone" if exc.status_code == 404 else f"unknown ({exc.explanation})"
    state = info.get("State") or {}
    if state.get("Running") and not state.get("Restarting") and not state.get("Dead"):
        return "running"
    return str(state.get("Status") or "stopped")


def oom_kill_count(client: Any, container_id: str, user: str) -> int | None:
    """How many processes the container's memory limit has killed so far; None when the
    container does not answer (a live one always does: cgroup v2 and v1 both count)."""
    try:
        made = client.exec_create(container_id, _OOM_PROBE, user=user)
        text = bytes(client.exec_start(made["Id"])).decode(errors="replace")
    except Exception:
        return None
    match = _OOM.search(text)
    return int(match.group(1)) if match else None
