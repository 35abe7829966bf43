"""DockerExecutor: the default sandbox. One warm container per run, one `docker exec` per block.

The container is locked down (read-only root, tmpfs /tmp, only the workspace mounted, no
network unless asked, memory/CPU/pids limits, no-new-privileges, code run as a non-root
user with no capabilities) and its PID 1 is an init, so removing it is quick. Its main
process is a tiny keep-alive shell that, on SIGUSR1, kills every other process: the Docker
API cannot signal an exec'd process, and a fork bomb may leave no pid free for another
exec, but a signal to the container needs none. That is how a timed-out or cancelled
block is stopped without losing the warm container.

The keep-alive runs as the container's root with one capability, KILL, and nothing else;
the code runs as another user, so it cannot signal the keep-alive (`kill -9 -1` used to
take the whole container down, and the next block raced its teardown). A container that
stops anyway (the engine, an outside kill) is found by asking the engine for its state
after a block that died abnormally, and replaced before the next run.

The Docker SDK blocks, so every call goes through asyncio.to_thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from magentic.errors import SandboxError
from magentic.execution import docker_cleanup, docker_engine, quota
from magentic.execution.base import ENGINE_LOST, CodeBlock, ExecutionResult, SandboxUnavailable
from magentic.execution.common import (
    BlockRun,
    OutputBuffer,
    add_truncation_notes,
    block_suffix,
    explain,
    run_blocks,
    sandbox_env,
    sandbox_ids,
)
from magentic.execution.docker_engine import api as _api
from magentic.execution.settings import SandboxSettings

log = logging.getLogger(__name__)
WORKDIR = "/workspace"
_LIFETIME_MINUTES = 12 * 60  # a container whose owner vanished ends by itself after this
_KEEPALIVE = (
    "trap 'kill -9 -1 2>/dev/null' USR1; trap 'exit 0' TERM; i=0; "
    f"while [ $i -lt {_LIFETIME_MINUTES} ]; do sleep 60 & wait $!; i=$((i+1)); done"
)
# Writes the block (passed as argv chunks: no stdin and no docker cp into a tmpfs) to /tmp,
# then becomes the interpreter, so the exec's exit code is the block's.
_RUNNER = (
    'interp=$1 f=$2; shift 2; mkdir -p /tmp/.magentic && printf %s "$@" > "$f" || exit 126; '
    'exec "$interp" "$f"'
)
_CHUNK_CHARS = 30_000  # one argv string must stay under 128 KiB, even in 4-byte UTF-8
_KILL_RETRY_S = 0.5
_KILL_ATTEMPTS = 20


class _ContainerGone(Exception):
    """The run's container stopped (killed from outside, or it reached its lifetime)."""


class DockerExecutor:
    name = "docker"
    workdir = WORKDIR

    def __init__(
        self, workspace: Path, settings: SandboxSettings | None = None, *, run_id: str = ""
    ) -> None:
        self.workspace = workspace.resolve()
        self.settings = settings or SandboxSettings()
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.container_id: str | None = None
        self.restarts = 0
        self._api: Any = None
        self._user = ""
        self._lock = asyncio.Lock()
        self._seq = 0
        self._oom_seen = 0
        self._quota = quota.WorkspaceQuota(self.workspace, self.settings.quota_bytes)
        self._notes: list[str] = []  # said once, with the next result
        self._lost = False  # the engine stopped answering; run() says so until it is back
        self._replace = False  # the container died with a block: a fresh one before the next

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.container_id:
            return
        docker_cleanup.install_hooks()
        self._api = await asyncio.to_thread(_api)
        await asyncio.to_thread(self.workspace.mkdir, parents=True, exist_ok=True)
        await self._quota.start_with(self._start_container, self._notes)
        self._oom_seen = 0

    async def _start_container(self) -> None:
        uid, gid = await asyncio.to_thread(sandbox_ids, self.workspace)
        self._user = f"{uid}:{gid}"
        sweep = asyncio.create_task(asyncio.to_thread(docker_cleanup.sweep_stale, self._api))
        creating = asyncio.ensure_future(asyncio.to_thread(self._create_and_start))
        try:
            self.container_id = await asyncio.shield(creating)
        except asyncio.CancelledError:
            # the thread goes on and makes the container anyway: take it down again
            with contextlib.suppress(Exception):
                made = await creating
                await asyncio.to_thread(docker_cleanup.remove_now, self._api, made)
            raise
        except SandboxError:
            raise
        except Exception as exc:  # a refused connection: the engine went away
            if await asyncio.to_thread(docker_engine.engine_answers, self._api):
                raise SandboxError(f"cannot start the sandbox container: {exc}") from exc
            self._lost = True
            raise SandboxUnavailable(
                "the Docker engine stopped answering, so no code can run; start it again "
                "(dockerd) or use --sandbox bwrap"
            ) from exc
        finally:
            with contextlib.suppress(Exception):
                await sweep

    def _create_and_start(self) -> str:
        import docker.errors
        from docker.types import Ulimit

        s = self.settings
        host_config = self._api.create_host_config(
            binds={str(self.workspace): {"bind": WORKDIR, "mode": "rw"}},
            network_mode="bridge" if s.network else "none",
            mem_limit=s.memory_bytes,
            memswap_limit=s.memory_bytes,
            nano_cpus=int(s.cpus * 1e9),
            pids_limit=s.pids,
            read_only=True,
            tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={s.tmp_bytes},mode=1777"},
            cap_drop=["ALL"],
            cap_add=["KILL"],  # the keep-alive's alone: exec'd code runs with none
            # with no quota filesystem (not root), at least no one file may pass the quota
            ulimits=[Ulimit(name="fsize", soft=s.quota_bytes, hard=s.quota_bytes)]
            if not self._quota.enforced and s.quota_bytes > 0
            else None,
            security_opt=["no-new-privileges"],
            init=True,
            auto_remove=True,
        )
        env = sandbox_env(home="/tmp", path="")
        del env["PATH"]  # the image knows where its Python lives
        try:
            created = self._api.create_container(
                s.image,
                command=["sh", "-c", _KEEPALIVE],
                user="0:0",  # the keep-alive only; every block runs as self._user
                working_dir=WORKDIR,
                environment=env,
                labels=docker_cleanup.labels(self.run_id),
                hostname="sandbox",
                host_config=host_config,
            )
        except docker.errors.ImageNotFound as exc:
            raise SandboxError(
                f"the sandbox image {s.image} is missing; build it with scripts/install --sandbox"
            ) from exc
        except docker.errors.APIError as exc:
            raise SandboxError(f"cannot create the sandbox container: {exc.explanation}") from exc
        container_id: str = created["Id"]
        docker_cleanup.track(container_id, self._api)
        try:
            self._api.start(container_id)
        except docker.errors.APIError as exc:
            docker_cleanup.remove_now(self._api, container_id)
            raise SandboxError(f"cannot start the sandbox container: {exc.explanation}") from exc
        return container_id

    async def close(self) -> None:
        """Remove the container, then give the workspace its plain folder back."""
        await self._drop_container()
        await self._quota.release()

    async def _drop_container(self) -> None:
        container_id, self.container_id = self.container_id, None
        if container_id and self._api is not None:
            try:
                await asyncio.to_thread(docker_cleanup.remove_now, self._api, container_id)
            except Exception:
                if await asyncio.to_thread(docker_engine.engine_answers, self._api):
                    raise
                # the engine is gone, and the container with it (or it stops on restart)
                log.warning("could not remove container %s: the engine is gone", container_id[:12])

    # ------------------------------------------------------------------------ run

    async def run(
        self, blocks: Sequence[CodeBlock], timeout: float | None = None
    ) -> ExecutionResult:
        async with self._lock:
            if self._lost or self._replace:
                await self._recover()
            if not self.container_id:
                await self.start()
            return await self._run(blocks, timeout or self.settings.timeout)

    async def _recover(self) -> None:
        """Before a run: give up the container a previous block left dead, or, after an
        engine loss, check whether the engine is back (SandboxUnavailable if not)."""
        if self._lost:
            if not await asyncio.to_thread(docker_engine.engine_answers, self._api):
                raise SandboxUnavailable(
                    "the Docker engine is still not answering, so no code can run; start it "
                    "again (dockerd) or use --sandbox bwrap"
                )
            self._lost = False
            self._notes.append(
                "the Docker engine answers again; this block ran in a fresh container "
                "(files in /tmp were lost, the workspace is intact)"
            )
        elif self._replace:
            self._notes.append(
                "the sandbox container had stopped with the last block, so a fresh one was "
                "started; files in /tmp were lost, the workspace is intact"
            )
        self._replace = False
        old, self.container_id = self.container_id, None
        if old:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(docker_cleanup.remove_now, self._api, old)
        self.restarts += 1

    async def _run(self, blocks: Sequence[CodeBlock], timeout: float) -> ExecutionResult:
        def script_path(block: CodeBlock) -> str:
            self._seq += 1
            return f"/tmp/.magentic/block{self._seq}{block_suffix(block)}"

        async def run_one(
            run: BlockRun, out: OutputBuffer, err: OutputBuffer, result: ExecutionResult
        ) -> tuple[int | None, bool]:
            cmd = ["sh", "-c", _RUNNER, "run", *run.argv, *_chunks(run.block.code)]
            return await self._exec(cmd, run.deadline, out, err, result)

        result, out, err = await run_blocks(
            blocks,
            timeout=timeout,
            workspace=self.workspace,
            output_limit=self.settings.output_limit,
            script_path=script_path,
            run_one=run_one,
        )
        abnormal = result.exit_code is None or result.exit_code >= 128
        if abnormal and not result.timed_out and not self._lost and self.container_id:
            await self._check_after_abnormal_exit()
        if self._lost:
            result.limit_hit = ENGINE_LOST
            result.notes.append(
                "the Docker engine stopped answering while this block ran, so the block was "
                "cut short (no limit of the sandbox was hit); no code can run until the "
                "engine is back"
            )
        else:
            oom = False
            if result.exit_code == 137 and not result.timed_out and not self._replace:
                oom = await self._oom_killed()
            explain(
                result,
                self.settings,
                workdir=WORKDIR,
                oom_killed=oom,
                sigkill_means_memory=False,  # the cgroup's count says, or nothing does
                workspace_full=await self._quota.is_full(),
            )
            if self._replace and result.exit_code is not None:
                result.notes.append(
                    "the sandbox container stopped while this block ran (stopped from outside "
                    "the sandbox), so no limit was hit; the next run starts a fresh container"
                )
        add_truncation_notes(result, out, err)
        result.notes.extend(self._notes)
        self._notes.clear()
        return result

    async def _check_after_abnormal_exit(self) -> None:
        """A block that died of a signal, or whose status went missing, may have taken the
        container or the engine with it: look at both rather than guess from error texts,
        and mark a dead container for replacement before the next run."""
        if not await asyncio.to_thread(docker_engine.engine_answers, self._api):
            self._lost = True
            return
        if await asyncio.to_thread(self._container_state) != "running":
            self._replace = True

    def _gone(self, exc: Any) -> bool:
        """Whether an engine error means the container is no more: its state says, not the
        error's wording (which varies with the moment of a teardown). Blocking."""
        return exc.status_code in (404, 409) or self._container_state() != "running"

    def _container_state(self) -> str:
        return docker_engine.container_state(self._api, self.container_id or "")

    async def _exec(
        self,
        cmd: list[str],
        deadline: float,
        out: OutputBuffer,
        err: OutputBuffer,
        result: ExecutionResult,
    ) -> tuple[int | None, bool]:
        """Run one block; if the container turns out to be gone, start a fresh one and
        run the block there (it was stopped from outside, or reached its lifetime)."""
        try:
            exit_code, timed_out = await self._exec_once(cmd, deadline, out, err)
        except _ContainerGone:
            pass
        except (SandboxError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a dropped connection, a broken stream: is the engine gone?
            if await asyncio.to_thread(docker_engine.engine_answers, self._api):
                raise SandboxError(f"docker exec failed: {type(exc).__name__}: {exc}") from exc
            self._lost = True
            return None, False
        else:
            if exit_code is None and not timed_out:
                result.notes.append(
                    "the sandbox container stopped while this block ran (stopped from outside "
                    "the sandbox), so its exit status is unknown; the next run "
                    "starts a fresh container"
                )
            return exit_code, timed_out
        old, self.container_id = self.container_id, None
        if old:
            await asyncio.to_thread(docker_cleanup.remove_now, self._api, old)
        self.restarts += 1
        await self.start()
        result.notes.append(
            "the sandbox container had stopped (stopped from outside the sandbox), so a "
            "fresh one was started; files in /tmp were lost, the workspace is intact"
        )
        try:
            return await self._exec_once(cmd, deadline, out, err)
        except _ContainerGone as exc:
            raise SandboxError("the sandbox container stops as soon as it starts") from exc

    async def _exec_once(
        self, cmd: list[str], deadline: float, out: OutputBuffer, err: OutputBuffer
    ) -> tuple[int | None, bool]:
        """Run one exec to its end, the deadline, or a cancel; return (exit code, timed out)."""
        exec_id = await asyncio.to_thread(self._exec_create, cmd)
        task = asyncio.ensure_future(asyncio.to_thread(self._stream, exec_id, out, err))
        try:
            timed_out = await self._wait(task, exec_id, deadline)
        except _ContainerGone:
            raise
        except BaseException:  # cancelled (or the engine failed): stop the block first
            await asyncio.shield(self._stop(task))
            raise
        if timed_out:
            await self._stop(task)
            return None, True
        info = await asyncio.to_thread(self._exec_info, exec_id)
        if info is None:  # the container ended with the block: its exit status went with it
            return None, False
        return info.get("ExitCode"), False

    def _exec_info(self, exec_id: str) -> dict[str, Any] | None:
        """The engine's view of an exec, or None when it (or its container) is gone. Blocking."""
        import docker.errors

        try:
            return dict(self._api.exec_inspect(exec_id))
        except docker.errors.APIError as exc:
            if self._gone(exc):
                return None
            raise SandboxError(f"docker exec failed: {exc.explanation}") from exc

    def _exec_create(self, cmd: list[str]) -> str:
        import docker.errors

        try:
            made = self._api.exec_create(self.container_id, cmd, workdir=WORKDIR, user=self._user)
        except docker.errors.APIError as exc:
            if self._gone(exc):
                raise _ContainerGone from exc
            raise SandboxError(f"docker exec failed: {exc.explanation}") from exc
        return str(made["Id"])

    def _stream(self, exec_id: str, out: OutputBuffer, err: OutputBuffer) -> None:
        import docker.errors

        try:
            stream = self._api.exec_start(exec_id, stream=True, demux=True)
        except docker.errors.APIError as exc:
            if self._gone(exc):
                raise _ContainerGone from exc
            raise SandboxError(f"docker exec failed: {exc.explanation}") from exc
        for stdout, stderr in stream:
            if stdout:
                out.feed(stdout)
            if stderr:
                err.feed(stderr)

    async def _wait(self, task: asyncio.Future[None], exec_id: str, deadline: float) -> bool:
        """True on timeout. Ends early when the block is done but a child it left in the
        background still holds its output open (as a bwrap sandbox would end it)."""
        check_after = 0.25
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            done, _ = await asyncio.wait({task}, timeout=min(remaining, check_after))
            if done:
                task.result()
                return False
            info = await asyncio.to_thread(self._exec_info, exec_id)
            if info is None or not info.get("Running", True):
                await self._stop(task)
                return False
            check_after = min(check_after * 2, 5.0)

    async def _stop(self, task: asyncio.Future[None]) -> None:
        """Kill every process of the code's user, again until the block's exec has ended.

        Repeating covers an exec that started only after the first signal. If the keep-alive
        is gone the container is removed instead (the next run starts a new one).
        """
        for _ in range(_KILL_ATTEMPTS):
            if task.done():
                break
            await asyncio.to_thread(self._signal_kill)
            await asyncio.wait({task}, timeout=_KILL_RETRY_S)
        if not task.done():
            await self._drop_container()
        with contextlib.suppress(Exception):
            await task

    def _signal_kill(self) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.APIError, OSError, ValueError):
            self._api.kill(self.container_id, signal="SIGUSR1")

    async def _oom_killed(self) -> bool:
        """Did the memory limit kill something since we last looked?

        No count means the container is stopping with the block: that is not the memory
        limit (an outside kill, the engine), and the container is replaced before the next
        run.
        """
        count = await asyncio.to_thread(
            docker_engine.oom_kill_count, self._api, self.container_id or "", self._user
        )
        if count is None:
            self._replace = True
            return False
        killed = count > self._oom_seen
        self._oom_seen = count
        return killed


def _chunks(code: str) -> list[str]:
    return [code[i : i + _CHUNK_CHARS] for i in range(0, len(code), _CHUNK_CHARS)] or [""]
