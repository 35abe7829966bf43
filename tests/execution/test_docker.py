"""What only the Docker sandbox does: the container's hardening, keeping it warm, and never
leaving it behind (close, crash, Ctrl-C, SIGTERM, a killed owner)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from magentic.errors import SandboxError
from magentic.execution import CodeBlock, SandboxSettings
from magentic.execution.docker_cleanup import labels
from magentic.execution.docker_executor import DockerExecutor
from magentic.execution.settings import DEFAULT_IMAGE

from .conftest import require_docker

pytestmark = pytest.mark.docker


@pytest.fixture
def api() -> Any:
    return require_docker()


def containers_of(api: Any, pid: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.containers(
        all=True, filters={"label": ["magentic.owner=1", f"magentic.pid={pid}"]}
    )
    return found


async def test_container_is_locked_down(api: Any, workspace: Path) -> None:
    executor = DockerExecutor(workspace, SandboxSettings(memory="300m", cpus=0.5, pids=100))
    await executor.start()
    try:
        info = api.inspect_container(executor.container_id)
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["NetworkMode"] == "none"
        assert host["Memory"] == 300 * 1024**2
        assert host["NanoCpus"] == 500_000_000
        assert host["PidsLimit"] == 100
        assert host["Init"] is True
        assert host["Binds"] == [f"{workspace}:/workspace:rw"]
        assert "/tmp" in host["Tmpfs"]
        assert host["CapAdd"] in (["KILL"], ["CAP_KILL"])  # the keep-alive's, see below
        assert info["Config"]["Labels"]["magentic.pid"] == str(os.getpid())
        assert info["Config"]["Labels"]["magentic.run"] == executor.run_id
        mounts = [m["Destination"] for m in info["Mounts"]]
        assert mounts == ["/workspace"]  # nothing else of the host
        # the code itself runs as a non-root user with no capability at all
        probe = await executor.run([CodeBlock("sh", "id -u; grep CapEff /proc/self/status")])
        uid, caps = probe.stdout.split("\n", 1)
        assert uid.strip() not in ("", "0")
        assert caps.split()[1] == "0000000000000000"
    finally:
        await executor.close()


async def test_network_is_opt_in(api: Any, workspace: Path) -> None:
    executor = DockerExecutor(workspace, SandboxSettings(network=True))
    await executor.start()
    try:
        info = api.inspect_container(executor.container_id)
        assert info["HostConfig"]["NetworkMode"] == "bridge"
    finally:
        await executor.close()


async def test_container_stays_warm_between_runs(api: Any, workspace: Path) -> None:
    executor = DockerExecutor(workspace)
    await executor.start()
    try:
        first_id = executor.container_id
        await executor.run([CodeBlock("sh", "echo kept > /tmp/state")])
        result = await executor.run([CodeBlock("sh", "cat /tmp/state")])
        assert result.stdout.strip() == "kept"
        assert executor.container_id == first_id
    finally:
        await executor.close()
    assert containers_of(api, os.getpid()) == []


async def test_code_cannot_kill_its_container(api: Any, workspace: Path) -> None:
    """`kill -9 -1` reaches every process of the code's user, never the keep-alive: the
    warm container survives, and no next block races a teardown."""
    executor = DockerExecutor(workspace)
    await executor.start()
    try:
        first_id = executor.container_id
        killed = await executor.run([CodeBlock("sh", "kill -9 -1")])
        assert killed.limit_hit != "memory"
        result = await executor.run([CodeBlock("python", "print('same')")])
        assert result.stdout.strip() == "same"
        assert executor.container_id == first_id and executor.restarts == 0
        assert api.inspect_container(first_id)["State"]["Running"]
    finally:
        await executor.close()


async def test_a_container_stopped_between_runs_is_replaced(api: Any, workspace: Path) -> None:
    executor = DockerExecutor(workspace)
    await executor.start()
    try:
        first_id = executor.container_id
        await asyncio.to_thread(api.kill, first_id)
        await asyncio.to_thread(_wait_stopped, api, first_id)
        result = await executor.run([CodeBlock("python", "print('fresh')")])
        assert result.stdout.strip() == "fresh"
        assert executor.container_id != first_id
        assert executor.restarts == 1
        assert any("fresh one was started" in note for note in result.notes)
    finally:
        await executor.close()


async def test_a_container_stopped_under_a_block_is_replaced_before_the_next(
    api: Any, workspace: Path
) -> None:
    """The block dies with its container: not read as the memory limit, and the next run
    gets a fresh container."""
    executor = DockerExecutor(workspace)
    await executor.start()
    try:
        first_id = executor.container_id
        task = asyncio.create_task(
            executor.run([CodeBlock("sh", "echo started > started.txt; sleep 60")])
        )
        marker = workspace / "started.txt"
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(marker.exists):
            assert time.monotonic() < deadline, "the block never started"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(api.kill, first_id)
        died = await task
        assert died.exit_code is None or died.exit_code >= 128, died
        assert died.limit_hit != "memory" and not died.timed_out, died
        assert any("container stopped while this block ran" in n for n in died.notes), died
        again = await executor.run([CodeBlock("python", "print('fresh')")])
        assert again.stdout.strip() == "fresh"
        assert executor.container_id != first_id and executor.restarts == 1
        assert any("fresh one was started" in note for note in again.notes), again
    finally:
        await executor.close()


def _wait_stopped(api: Any, container_id: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        api.wait(container_id, timeout=60)


class HeldInCreation(DockerExecutor):
    """A real executor whose creation thread, once the container exists, waits for the
    test: the cancel then lands inside container creation every time, not by timing."""

    def __init__(self, workspace: Path) -> None:
        super().__init__(workspace)
        self.created = threading.Event()
        self.release = threading.Event()

    def _create_and_start(self) -> str:
        container_id = super()._create_and_start()
        self.created.set()
        self.release.wait(timeout=60)
        return container_id


async def test_cancelled_start_leaves_no_container(api: Any, workspace: Path) -> None:
    executor = HeldInCreation(workspace)
    task = asyncio.create_task(executor.start())
    assert await asyncio.to_thread(executor.created.wait, 60)
    assert containers_of(api, os.getpid())  # the container exists, start() has not returned
    task.cancel()
    executor.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert containers_of(api, os.getpid()) == []
    assert executor.container_id is None


async def test_missing_image_is_a_clear_error(api: Any, workspace: Path) -> None:
    executor = DockerExecutor(workspace, SandboxSettings(image="magentic-no-such-image:0"))
    with pytest.raises(SandboxError, match="scripts/install --sandbox"):
        await executor.start()
    assert executor.container_id is None


async def test_stale_container_of_a_dead_process_is_swept(api: Any, workspace: Path) -> None:
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    stale_labels = labels("stale-test") | {"magentic.pid": str(dead.pid)}
    stale = api.create_container(
        DEFAULT_IMAGE, command=["sleep", "300"], labels=stale_labels,
        host_config=api.create_host_config(network_mode="none"),
    )  # fmt: skip
    try:
        executor = DockerExecutor(workspace)
        await executor.start()
        await executor.close()
        assert not api.containers(all=True, filters={"id": stale["Id"]})
    finally:
        api.remove_container(stale["Id"], force=True) if api.containers(
            all=True, filters={"id": stale["Id"]}
        ) else None


_CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from magentic.execution.docker_executor import DockerExecutor

    async def main():
        executor = DockerExecutor(Path(sys.argv[1]))
        await executor.start()
        print("started", executor.container_id, flush=True)
        if sys.argv[2] == "crash":
            raise RuntimeError("boom")
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("how", ["crash", "sigint", "sigterm"])
def test_container_removed_when_the_owner_ends_badly(api: Any, workspace: Path, how: str) -> None:
    """A crash, Ctrl-C or SIGTERM ends the owner without close(): the exit path removes it."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(workspace), how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("started"), child.stderr.read() if child.stderr else ""
    container_id = line.split()[1]
    assert api.containers(all=True, filters={"id": container_id})
    if how != "crash":  # alive until signalled: its workspace is on the quota filesystem
        assert os.path.ismount(workspace) == (os.geteuid() == 0)  # root mounts a quota
    if how == "sigint":
        child.send_signal(signal.SIGINT)
    elif how == "sigterm":
        child.send_signal(signal.SIGTERM)
    child.wait(timeout=60)
    assert not api.containers(all=True, filters={"id": container_id})
    assert containers_of(api, child.pid) == []
    assert not os.path.ismount(workspace)  # the workspace quota's mount went with it


def test_container_of_a_sigkilled_owner_is_swept_on_next_start(api: Any, workspace: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(workspace), "wait"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    container_id = child.stdout.readline().split()[1]
    child.kill()  # no exit hook can run
    child.wait()
    assert api.containers(all=True, filters={"id": container_id})
    sweeper = subprocess.run(
        [sys.executable, "-c", _CHILD.replace("await asyncio.sleep(60)", "await executor.close()"),
         str(workspace), "wait"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert sweeper.returncode == 0, sweeper.stderr
    deadline = time.monotonic() + 10
    while api.containers(all=True, filters={"id": container_id}) and time.monotonic() < deadline:
        time.sleep(0.1)  # auto-removal finishes just after the forced remove returns
    assert not api.containers(all=True, filters={"id": container_id})
