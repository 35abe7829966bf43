"""Fixtures for the sandbox tests: real Docker and real bubblewrap, never a stand-in.

`sandbox` is parametrized over both executors, so one test body proves the same
containment for each. Workspaces live under /tmp (not pytest's 0700 tmp folders) because
code runs as an unprivileged user who must be able to reach them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from magentic.execution import Executor, SandboxSettings, make_executor
from magentic.execution.settings import DEFAULT_IMAGE
from tests.conftest import require

MakeSandbox = Callable[..., Awaitable[Executor]]


def docker_api() -> Any:
    """The Docker API client, or None when no engine answers."""
    try:
        from magentic.execution.docker_engine import api as _api

        return _api()
    except Exception:
        return None


def require_docker() -> Any:
    api = docker_api()
    require(api is not None, "a Docker engine (start dockerd)")
    try:
        api.inspect_image(DEFAULT_IMAGE)
        have_image = True
    except Exception:
        have_image = False
    require(have_image, "the sandbox image (run scripts/install --sandbox)")
    return api


def require_bwrap() -> None:
    bwrap = shutil.which("bwrap")
    require(bwrap is not None, "bubblewrap (scripts/install --bwrap)")
    probe = subprocess.run(
        [bwrap or "bwrap", "--ro-bind", "/", "/", "--unshare-all", "true"], capture_output=True
    )
    require(probe.returncode == 0, "bubblewrap able to make namespaces (user namespaces on)")


def require_quota() -> None:
    require(
        os.geteuid() == 0 and os.path.exists("/dev/loop-control"),
        "root and loop devices (the workspace quota mounts a filesystem image)",
    )


def require_kind(kind: str) -> None:
    if kind == "docker":
        require_docker()
    elif kind == "bwrap":
        require_bwrap()


@pytest.fixture(scope="session", autouse=True)
def no_container_left() -> Iterator[None]:
    """After the whole session, no sandbox container made by this process may remain."""
    yield
    api = docker_api()
    if api is None:
        return
    left = api.containers(
        all=True, filters={"label": ["magentic.owner=1", f"magentic.pid={os.getpid()}"]}
    )
    assert left == [], f"sandbox containers left behind: {[c['Id'][:12] for c in left]}"


@pytest.fixture
def workspace() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="magentic-test-ws-"))
    os.chmod(folder, 0o755)
    yield folder
    left_mounted = os.path.ismount(folder)
    if left_mounted:  # clean up first, then fail: the quota's mount must not outlive a test
        subprocess.run(["umount", "-l", str(folder)], check=False)
    shutil.rmtree(folder, ignore_errors=True)
    for leftover in folder.parent.glob(f".{folder.name}-*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink()
    assert not left_mounted, f"{folder} is still mounted (the workspace quota leaked)"


@pytest.fixture(
    params=[
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("bwrap", marks=pytest.mark.bwrap),
    ]
)
def kind(request: pytest.FixtureRequest) -> str:
    require_kind(request.param)
    return str(request.param)


@pytest.fixture
async def sandbox(kind: str, workspace: Path) -> AsyncIterator[MakeSandbox]:
    """Makes started executors of this test's kind; each is closed after the test, and a
    closed Docker executor's container must be gone."""
    made: list[Executor] = []

    async def make(**settings: Any) -> Executor:
        executor = make_executor(kind, workspace, SandboxSettings(**{"timeout": 60, **settings}))
        made.append(executor)
        await executor.start()
        return executor

    yield make
    containers = [getattr(e, "container_id", None) for e in made]
    for executor in made:
        await executor.close()
    api = docker_api()
    for container_id in filter(None, containers):
        assert not api.containers(all=True, filters={"id": container_id}), "close() left it"


async def leftovers(executor: Executor, token: str) -> list[str]:
    """Processes still alive after a block ended: for Docker every process in the container
    but its init, keep-alive and their sleep; for bubblewrap every host process whose
    command line holds `token`. Zombies (already dead, not yet reaped) do not count."""
    for _ in range(20):  # a SIGKILLed process takes a moment to be gone
        alive = await asyncio.to_thread(_alive, executor, token)
        if not alive:
            return []
        await asyncio.sleep(0.05)
    return alive


async def until_running(executor: Executor, token: str, within_s: float = 60.0) -> None:
    """Waits until a process whose command line holds `token` runs in the sandbox, so a test
    acts on a started process rather than on a guess of how long starting takes."""
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        alive = await asyncio.to_thread(_alive, executor, token)
        if any(token in row for row in alive):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no process with {token} started within {within_s} s")


def _alive(executor: Executor, token: str) -> list[str]:
    if executor.name == "docker":
        api = docker_api()
        container = getattr(executor, "container_id", None)
        if container is None:  # not started yet: nothing runs
            return []
        made = api.exec_create(container, ["ps", "-eo", "pid=,stat=,args="])
        lines = api.exec_start(made["Id"]).decode().splitlines()
        rows = [line.split(None, 2) for line in lines if line.strip()]
        return [
            " ".join(row)
            for row in rows
            if len(row) == 3
            and row[0] != "1"
            and not row[1].startswith("Z")
            and "trap 'kill" not in row[2]
            and row[2] != "sleep 60"
            and not row[2].startswith("ps -eo")
        ]
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token in cmdline and state != "Z" and int(pid) != os.getpid():
            found.append(f"{pid} {cmdline}")
    return found
