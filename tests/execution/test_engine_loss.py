"""A Docker engine that stops mid-block: told as such, once, and never as a traceback.

Stopping the machine's own engine would break every other Docker user, so each test starts
a private `dockerd` (its own data root, exec root, socket and pid file under a temporary
folder, no iptables), gives it a tiny image made with `docker import` from a few host
binaries, points the executor at it through DOCKER_HOST, and stops it mid-block.

Not `--bridge=none`: a dockerd started so deletes the host's docker0 interface, which the
machine's own engine needs. The private engine gets a bridge of its own, made here.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from magentic.agents.base import StepContext, TeamMessage
from magentic.agents.terminal import ComputerTerminal
from magentic.events import EventBus
from magentic.execution import SandboxSettings
from magentic.execution.base import ENGINE_LOST
from magentic.execution.docker_executor import DockerExecutor
from tests.conftest import require

TINY_IMAGE = "magentic-tiny:1"
# What the executor's keep-alive and block runner use: a shell, sleep, mkdir, kill, cat.
_TOOLS = ("dash", "sleep", "mkdir", "cat", "kill")
_READY_S = 60.0


@dataclass
class Engine:
    folder: Path
    process: subprocess.Popen[bytes]
    bridge: str

    @property
    def host(self) -> str:
        return f"unix://{self.folder / 'docker.sock'}"


def _tiny_rootfs() -> bytes:
    """A tar of a root filesystem holding the tools and the libraries they load."""
    files: set[str] = set()
    for tool in _TOOLS:
        binary = shutil.which(tool)
        require(binary is not None, f"{tool} on the host (for the tiny test image)")
        assert binary is not None
        files.add(os.path.realpath(binary))
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
        files.update(w for w in ldd.stdout.split() if w.startswith("/"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(files):
            tar.add(os.path.realpath(path), arcname=path.lstrip("/"))
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, os.path.realpath(shutil.which("dash") or "")
        tar.addfile(link)
        for folder in ("tmp", "workspace"):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(entry)
    return buffer.getvalue()


@pytest.fixture
def engine() -> Iterator[Engine]:
    require(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root and dockerd")
    require(shutil.which("ip") is not None, "iproute2 (ip) for the private engine's bridge")
    folder = Path(tempfile.mkdtemp(prefix="magentic-dockerd-"))
    bridge = f"mgt{uuid.uuid4().hex[:8]}"
    subnet = f"10.213.{random.randint(0, 255)}.1/24"
    for command in (
        ["link", "add", bridge, "type", "bridge"],
        ["addr", "add", subnet, "dev", bridge],
    ):
        subprocess.run(["ip", *command], check=True, capture_output=True)
    log = open(folder / "dockerd.log", "wb")  # noqa: SIM115 - closed in the teardown
    process = subprocess.Popen(
        ["dockerd", "--data-root", str(folder / "data"), "--exec-root", str(folder / "exec"),
         "--pidfile", str(folder / "dockerd.pid"), "-H", f"unix://{folder / 'docker.sock'}",
         f"--bridge={bridge}", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
         "--ip-masq=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    made = Engine(folder, process, bridge)
    try:
        import docker

        client = _wait_ready(made, docker)
        client.api.import_image_from_data(_tiny_rootfs(), repository=TINY_IMAGE.split(":")[0],
                                          tag=TINY_IMAGE.split(":")[1])  # fmt: skip
        client.close()
        yield made
    finally:
        _stop_engine(made)
        log.close()


def _wait_ready(engine: Engine, docker: object) -> object:
    deadline = time.monotonic() + _READY_S
    while True:
        try:
            client = docker.DockerClient(base_url=engine.host, timeout=30)  # type: ignore[attr-defined]
            client.ping()
            return client
        except Exception:
            if engine.process.poll() is not None or time.monotonic() > deadline:
                tail = (engine.folder / "dockerd.log").read_text(errors="replace")[-800:]
                require(False, f"a private dockerd that starts ({tail})")
            time.sleep(0.1)  # polling for readiness, not a race: the deadline bounds it


def _stop_engine(engine: Engine) -> None:
    """End the private engine and everything it started; leave no mount or process."""
    if engine.process.poll() is None:
        engine.process.terminate()
        try:
            engine.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            engine.process.kill()
            engine.process.wait()
    tag = str(engine.folder)
    ids: list[str] = []
    # its containers' processes (a killed engine leaves them running, holding their
    # mounts), then its containerd and shims
    with contextlib.suppress(OSError):
        ids = os.listdir(engine.folder / "data" / "containers")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
            if any(container_id in cgroup for container_id in ids):
                os.kill(int(pid), signal.SIGKILL)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if tag.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(int(pid), signal.SIGKILL)
    mounts = Path("/proc/mounts").read_text().splitlines()
    for target in sorted((m.split()[1] for m in mounts if tag in m.split()[1]), reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    shutil.rmtree(engine.folder, ignore_errors=True)
    subprocess.run(["ip", "link", "del", engine.bridge], check=False, capture_output=True)


def _context(workspace: Path, code: str) -> StepContext:
    return StepContext(
        task="count",
        conversation=[TeamMessage("Coder", f"```sh\n{code}\n```")],
        workspace=workspace,
        events=EventBus("test"),
    )


async def _stop_mid_block(engine: Engine, workspace: Path, how: signal.Signals) -> None:
    """Wait until the block has surely started, then stop the engine."""
    marker = workspace / "started.txt"
    deadline = time.monotonic() + 60
    while not await asyncio.to_thread(marker.exists):
        assert time.monotonic() < deadline, "the block never started"
        await asyncio.sleep(0.05)
    engine.process.send_signal(how)


@pytest.mark.docker
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_engine_lost_mid_block_is_told_once_then_briefly(
    engine: Engine, workspace: Path, how: signal.Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    settings = SandboxSettings(image=TINY_IMAGE, timeout=60)
    terminal = ComputerTerminal(DockerExecutor(workspace, settings), settings=settings)
    ctx = _context(workspace, "echo started > started.txt\nsleep 30")
    try:
        step = asyncio.create_task(terminal.step("Run it.", ctx))
        await _stop_mid_block(engine, workspace, how)
        first = await step
        second = await terminal.step("Run it again.", ctx)
        third = await terminal.step("And again.", ctx)
    finally:
        await terminal.close()  # must not raise with the engine gone
    assert f"limit hit: {ENGINE_LOST}" in first.text, first.text
    assert "Docker engine stopped answering while this block ran" in first.text
    assert "memory" not in first.text and "Traceback" not in first.text
    assert second.text.startswith("Ran nothing: the sandbox is still unavailable"), second.text
    assert "Docker engine is still not answering" in second.text
    assert third.text == second.text
    assert not await asyncio.to_thread(os.path.ismount, workspace)


async def test_no_engine_at_all_is_said_once_then_briefly(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An engine that is not there from the start: the same words, never a traceback."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    terminal = ComputerTerminal(kind="docker", settings=SandboxSettings(timeout=30))
    ctx = _context(workspace, "echo hi")
    try:
        first = await terminal.step("Run it.", ctx)
        second = await terminal.step("Run it again.", ctx)
    finally:
        await terminal.close()
    assert first.text.startswith("Ran nothing: the sandbox is unavailable: cannot reach the Docker")
    assert "--sandbox bwrap" in first.text
    assert second.text.startswith("Ran nothing: the sandbox is still unavailable (cannot reach")
