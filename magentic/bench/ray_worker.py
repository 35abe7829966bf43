"""The node side of a bench run on Ray: one (task, repeat) solved and scored where Ray put it.

`run_job` is the body of the Ray task (`ray_runner` wraps it with `ray.remote`); it does not
import Ray, so this module is plain Python and any node that runs it needs only magentic.

Why a per-process runner and not an actor per node: Ray runs a normal task in a pooled worker
process and reuses that process for the next task, so each worker process keeps one event
loop (in a thread) and one runner for the bench run it serves. The runner's shared parts (one
Chromium, the Docker client) live as long as the process, and each task takes its own browser
context and sandbox from them, as the tasks of a local run do. A node running N tasks at once
holds N such processes (N browsers rather than one with N contexts); in return Ray's own
scheduler places every task by its resources and re-runs the tasks of a node that died, with
no bookkeeping of ours that could disagree with Ray's view of the cluster.

Nothing on the node is shared with the driver's disk: the task's attachment and the suite's
sites arrive as bytes, are kept in a cache folder on the node, and the task's folder (trace,
workspace, screenshots) goes back as a tar archive that the driver unpacks into
`OUT/tasks/<id>/r<k>`.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from magentic.bench.runner import RunOne, run_job, task_folder
from magentic.bench.sites import SiteServer
from magentic.bench.suite import BenchTask

if TYPE_CHECKING:
    from magentic.llm.settings import ModelSettings

T = TypeVar("T")
CACHE = Path(tempfile.gettempdir()) / "magentic-ray"


class NodeRunner(Protocol):
    """What a runner factory makes: a `run_one` that can be closed (TeamRunner is one)."""

    async def __call__(self, task: BenchTask, repeat: int, workdir: Path) -> Any: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class JobSpec:
    """Everything a node needs for one job except the bytes (passed as Ray objects)."""

    run_key: str  # one bench run: a worker process keeps one runner per run
    task: BenchTask  # file_path is the driver's; the node uses its own copy of the bytes
    repeat: int
    kind: str
    timeout: float | None
    factory: Callable[[], NodeRunner]  # pickled: e.g. functools.partial(TeamRunner, config)
    judge: ModelSettings | None = None
    sites_hash: str | None = None


@dataclass
class JobResult:
    """What comes back to the driver: the scored row, the node, the task's folder."""

    result: dict[str, Any]  # TaskResult.model_dump()
    node: str
    folder: bytes  # tar.gz of tasks/<id>/r<k>, paths relative to OUT


class _Process:
    """The worker process's long-lived state: its loop thread, its runner, its site server."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.run_key: str | None = None
        self.runner: NodeRunner | None = None
        self.sites: dict[str, SiteServer] = {}
        self.lock = threading.Lock()

    def submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        with self.lock:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="magentic-ray-loop", daemon=True
                ).start()
                self.loop = loop
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    async def runner_for(self, spec: JobSpec) -> NodeRunner:
        """This run's runner; a runner of an earlier bench run is closed first."""
        if self.run_key != spec.run_key:
            old, self.runner = self.runner, None
            if old is not None:
                await old.close()
            self.runner = spec.factory()
            self.run_key = spec.run_key
        assert self.runner is not None
        return self.runner

    def site_url(self, sites_hash: str, sites: bytes) -> str:
        """The base URL of this node's server of the suite's sites (started once)."""
        if sites_hash not in self.sites:
            folder = _unpacked(sites, CACHE / f"sites-{sites_hash}")
            self.sites[sites_hash] = SiteServer(folder).start()
        return self.sites[sites_hash].base_url

    def close(self) -> None:
        """At process exit: close the runner (its browser), stop the site servers."""
        for server in self.sites.values():
            server.stop()
        if self.loop is not None and self.runner is not None:
            try:
                self.submit(self.runner.close()).result(timeout=10)
            except Exception:  # exiting anyway; the browser dies with its pipe
                pass


_PROCESS = _Process()
atexit.register(_PROCESS.close)


def run_on_node(
    spec: JobSpec, node: str, attachment: bytes | None, sites: bytes | None
) -> JobResult:
    """Solve and score one job on this node (the Ray task's body; blocking)."""
    future = _PROCESS.submit(_solve(spec, node, attachment, sites))
    try:
        return future.result()
    except BaseException:  # Ray cancelling the task (KeyboardInterrupt): stop the coroutine
        future.cancel()
        raise


async def _solve(
    spec: JobSpec, node: str, attachment: bytes | None, sites: bytes | None
) -> JobResult:
    from magentic import secrets

    runner = await _PROCESS.runner_for(spec)
    config = getattr(runner, "config", None)
    if config is not None:  # keys read from this node's environment are redacted here too
        secrets.register(config.api_keys())
    task = spec.task
    if attachment is not None and task.file_path is not None:
        task = replace(task, file_path=await asyncio.to_thread(_cached, attachment, task))
    base_url = None
    if spec.sites_hash is not None and sites is not None:
        base_url = await asyncio.to_thread(_PROCESS.site_url, spec.sites_hash, sites)
    out = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="magentic-ray-job-"))
    judge = None
    try:
        if spec.judge is not None:
            from magentic.bench.judge import Judge

            judge = Judge(spec.judge)
        run_one: RunOne = runner
        result = await run_job(
            task, spec.repeat, out, base_url, run_one, spec.timeout, kind=spec.kind, judge=judge
        )
        folder = await asyncio.to_thread(_packed, out, task.task_id, spec.repeat)
        return JobResult(result=result.model_dump(), node=node, folder=folder)
    finally:
        if judge is not None:
            await judge.close()
        await asyncio.to_thread(shutil.rmtree, out, True)


def _cached(data: bytes, task: BenchTask) -> Path:
    """The attachment as a file on this node, under its own name, kept across repeats."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    assert task.file_path is not None
    path = CACHE / f"file-{digest}" / task.file_path.name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)
    return path


def _packed(out: Path, task_id: str, repeat: int) -> bytes:
    """tasks/<id>/r<k> of a job's folder as tar.gz bytes."""
    relative = task_folder(task_id, repeat)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        if (out / relative).is_dir():
            archive.add(out / relative, arcname=str(relative))
    return buffer.getvalue()


def pack_folder(folder: Path) -> bytes:
    """A folder (the suite's sites) as tar.gz bytes, its contents at the archive's root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()


class UnsafeArchive(ValueError):
    """An archive with a member that would land outside its place: an absolute or `..`
    path, a link to an absolute path or out of the folder, a device. The folder of a task
    comes from the task's sandbox, where code can make any of these."""


def unpack(data: bytes, target: Path, *, inside: Path | None = None) -> None:
    """Extract tar.gz bytes into `target`, all or nothing: every member is checked before
    anything is written (and `inside`, when given, is the one folder members may be in),
    then extracted with the `data` filter, which checks each again as it is written."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = archive.getmembers()
        for member in members:
            _check_member(member, inside)
        if hasattr(tarfile, "data_filter"):
            archive.extractall(target, members=members, filter="data")
            return
        for member in members:  # Pythons without extraction filters: files and folders only
            if member.isfile() or member.isdir():
                archive.extract(member, target)


def _check_member(member: tarfile.TarInfo, inside: Path | None) -> None:
    name = PurePosixPath(member.name)
    scope = PurePosixPath(inside or ".")
    if name.is_absolute() or ".." in name.parts:
        raise UnsafeArchive(f"{member.name} leads outside the folder")
    if inside is not None and not name.is_relative_to(PurePosixPath(inside)):
        raise UnsafeArchive(f"{member.name} is not inside {inside}")
    if member.issym() or member.islnk():
        kind = "link" if member.issym() else "hard link"
        if os.path.isabs(member.linkname):
            raise UnsafeArchive(f"{member.name} is a {kind} to the absolute path {member.linkname}")
        base = name.parent if member.issym() else PurePosixPath()  # hard links: from the root
        lands = os.path.normpath(base / member.linkname)
        escapes = lands == ".." or lands.startswith("../") or os.path.isabs(lands)
        if escapes or not PurePosixPath(lands).is_relative_to(scope):
            raise UnsafeArchive(f"{member.name} is a {kind} out of the folder ({member.linkname})")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"{member.name} is a device or pipe")


def _unpacked(data: bytes, folder: Path) -> Path:
    """`data` extracted into `folder` once per node (staged, then renamed into place)."""
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=folder.name, dir=folder.parent))
        unpack(data, staging)
        try:
            staging.rename(folder)
        except OSError:  # another process of this node unpacked it first
            shutil.rmtree(staging, ignore_errors=True)
    return folder
