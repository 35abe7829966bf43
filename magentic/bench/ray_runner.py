"""`magentic bench SUITE --ray ADDRESS|auto`: each (task, repeat) as a Ray task on a cluster.

The driver (this process) keeps everything a local run keeps: which jobs to run (`--resume`,
`--repeat`, the selection), `results.jsonl`, the progress display and the report. Only the
solving moves: each job is a Ray task (`ray_worker.run_on_node`) that asks for one
`magentic_browser` and one `magentic_sandbox`, the custom resources each node advertises
(`ray start --resources '{"magentic_browser": 4, "magentic_sandbox": 4}'`), so a node runs
at most as many tasks as it has browser contexts and sandbox slots. `--concurrency` caps the
jobs in flight over the whole cluster, `--task-timeout` is applied on the node.

Each result is written the moment its Ray task returns, with the node it ran on; the task's
folder comes back with it. A node that dies takes its running tasks with it: Ray runs them
again on another node (`max_retries`), and since the driver writes a job's row only when its
one Ray task returns, a job is never counted twice. A cluster with no node left that offers
the resources ends the run with what finished, and says so.

Ray is an optional extra (`magentic-team[ray]`); it is imported only when `--ray` is given.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import socket
import tarfile
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magentic.bench import ray_exposure
from magentic.bench.ray_worker import JobResult, JobSpec, NodeRunner, pack_folder, unpack
from magentic.bench.results import TaskResult
from magentic.bench.runner import task_folder
from magentic.bench.suite import BenchTask, Suite
from magentic.errors import ConfigError

if TYPE_CHECKING:
    from magentic.bench.judge import Judge
    from magentic.bench.runner import BenchOptions
    from magentic.llm.settings import ModelSettings

RESOURCES = {"magentic_browser": 1.0, "magentic_sandbox": 1.0}
MAX_RETRIES = 3  # runs of one job after its node died, before the job counts as lost
START_HINT = 'ray start ... --resources \'{"magentic_browser": 4, "magentic_sandbox": 4}\''


def _body(spec: JobSpec, attachment: bytes | None, sites: bytes | None) -> JobResult:
    """The Ray task: run the job on this node, saying which node it is."""
    import ray

    from magentic.bench.ray_worker import run_on_node

    return run_on_node(spec, ray.get_runtime_context().get_node_id(), attachment, sites)


class RayCluster:
    """The `cluster` of `run_bench`: connect once (`connect`), then `run` the jobs there."""

    def __init__(
        self,
        address: str,
        factory: Callable[[], NodeRunner],
        *,
        judge: ModelSettings | None = None,
        poll_s: float = 1.0,
        allow_unauthenticated: bool = False,
    ) -> None:
        self.address = address
        self.allow_unauthenticated = allow_unauthenticated  # see ray_exposure
        self.factory = factory  # pickled to the nodes: functools.partial(TeamRunner, config)
        self.judge = judge
        self.poll_s = poll_s  # how often an idle wait checks that the cluster still has nodes

    def connect(self) -> str | None:
        """Join the cluster (blocking; call before the event loop starts), or a ConfigError
        in one line: Ray missing, nothing listening at the address, a cluster that anyone on
        its network could use (`ray_exposure`), no node with slots. Returns a warning to show
        when such a cluster is used all the same (`allow_unauthenticated`)."""
        if self.address != "auto" and ray_exposure.is_loopback(ray_exposure.host_of(self.address)):
            ray_exposure.stay_on_loopback()
        ray = _import_ray()
        probed = None
        if not ray.is_initialized():
            _check_reachable(self.address)
            if self.address != "auto" and "://" not in self.address:
                probed = ray_exposure.probe(self.address)  # as a driver without a token
                ray_exposure.refuse_tokenless_driver(self.address, probed)
            try:
                ray.init(
                    address=self.address,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                if self.address == "auto" and isinstance(exc, ConnectionError):
                    raise ConfigError(
                        "--ray auto found no Ray cluster on this machine: start one "
                        "(ray start --head) or give its head's HOST:PORT"
                    ) from None
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                raise ConfigError(
                    f"cannot join the Ray cluster at {self.address}: {first}"
                ) from None
        try:
            warning = ray_exposure.verdict(
                self.address, ray_exposure.check(ray, probed), allowed=self.allow_unauthenticated
            )
        except ConfigError:
            ray.shutdown()  # nothing was sent; leave before saying why
            raise
        if live_slots() < 1:
            raise ConfigError(
                f"no live node of the Ray cluster at {self.address} offers "
                f"{' and '.join(RESOURCES)}; start worker nodes with {START_HINT}"
            )
        return warning

    def close(self) -> None:
        """Leave the cluster (the nodes keep running). Ray's notices stop here."""
        ray = _import_ray()
        if ray.is_initialized():
            ray.shutdown()

    async def run(
        self,
        jobs: Sequence[tuple[BenchTask, int]],
        *,
        suite: Suite,
        options: BenchOptions,
        out: Path,
        judge: Judge | None,
        started: Callable[[str, int], None],
        record: Callable[[TaskResult], Awaitable[None]],
        sites: Path | None,
    ) -> str | None:
        """Run `jobs` on the cluster, recording each result as its Ray task returns."""
        ray = _import_ray()
        remote = ray.remote(_body).options(
            num_cpus=0, resources=RESOURCES, max_retries=MAX_RETRIES, retry_exceptions=False
        )
        run_key = uuid.uuid4().hex
        sites_ref = sites_hash = None
        if sites is not None:
            packed = await asyncio.to_thread(pack_folder, sites)
            sites_ref, sites_hash = ray.put(packed), _digest(packed)
        attachments: dict[str, Any] = {}
        waiting = deque(jobs)
        running: dict[asyncio.Future[JobResult], tuple[BenchTask, int, Any]] = {}
        lost: list[str] = []
        try:
            while waiting or running:
                while waiting and len(running) < options.concurrency:
                    task, repeat = waiting.popleft()
                    if task.file_path is not None and task.task_id not in attachments:
                        data = await asyncio.to_thread(task.file_path.read_bytes)
                        attachments[task.task_id] = ray.put(data)
                    spec = JobSpec(
                        run_key=run_key,
                        task=task,
                        repeat=repeat,
                        kind=suite.kind,
                        timeout=options.task_timeout,
                        factory=self.factory,
                        judge=self.judge,
                        sites_hash=sites_hash,
                    )
                    ref = remote.remote(spec, attachments.get(task.task_id), sites_ref)
                    started(task.task_id, repeat)
                    running[asyncio.wrap_future(ref.future())] = (task, repeat, ref)
                done, _ = await asyncio.wait(
                    running, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED
                )
                for future in done:
                    task, repeat, _ref = running.pop(future)
                    try:
                        payload = future.result()
                    except ray.exceptions.RayError as exc:  # retries ran out, or a bug
                        lost.append(f"{task.task_id} r{repeat} ({_first_line(exc)})")
                        continue
                    await record(await _land(payload, task, repeat, out))
                if not done and not await asyncio.to_thread(live_slots):
                    left = len(running) + len(waiting)
                    return (
                        f"the Ray cluster lost every node that offers {' and '.join(RESOURCES)}; "
                        f"{left} task(s) did not finish"
                    )
        finally:
            for future, (_task, _repeat, ref) in running.items():
                future.cancel()  # no "exception never retrieved" when a dropped one fails later
                _cancel(ray, ref)
        if lost:
            shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
            return f"{len(lost)} task(s) did not come back from the cluster: {shown}"
        return None


async def _land(payload: JobResult, task: BenchTask, repeat: int, out: Path) -> TaskResult:
    """A returned job's row, its folder unpacked into OUT; a folder that cannot be unpacked
    safely (a link out of it, made by code in the task's sandbox) makes the row a failed
    one that says why, and leaves no part of that folder behind: never the bench's end."""
    row = TaskResult.model_validate({**payload.result, "node": payload.node})
    folder = task_folder(task.task_id, repeat)
    try:
        await asyncio.to_thread(unpack, payload.folder, out, inside=folder)
    except (ValueError, tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        await asyncio.to_thread(shutil.rmtree, out / folder, True)
        reason = f"its folder from node {payload.node} was refused: {_first_line(exc)}"
        unscored = row.credit is None and row.correct is None
        return row.model_copy(
            update={
                "status": "error",
                "stop_reason": "folder refused",
                "error": reason,
                "correct": None if unscored else False,
                "credit": None if unscored else 0.0,
                "trace_path": None,
            }
        )
    return row


def live_slots() -> float:
    """How many tasks the cluster's live nodes can hold at once (0: none can run one)."""
    import ray

    total = 0.0
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        offered = node.get("Resources", {})
        total += min(offered.get(name, 0.0) / need for name, need in RESOURCES.items())
    return total


def _import_ray() -> Any:
    try:
        import ray
        import ray.exceptions
    except ModuleNotFoundError:
        raise ConfigError("--ray needs Ray: pip install 'magentic-team[ray]'") from None
    return ray


def _check_reachable(address: str) -> None:
    """A quick TCP check of HOST:PORT: Ray itself retries an address with nothing behind it
    for a minute and then aborts the process."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"--ray wants HOST:PORT of a cluster's head node or 'auto', not {address!r}"
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"no Ray cluster answers at {address} ({reason})") from None


def _cancel(ray: Any, ref: Any) -> None:
    try:
        ray.cancel(ref)
    except Exception:  # the cluster is gone or the task already ended: nothing to stop
        pass


def _first_line(exc: BaseException) -> str:
    """What went wrong, briefly: a task's own exception rather than Ray's wrapper of it (a
    node without magentic installed says ModuleNotFoundError here)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]
