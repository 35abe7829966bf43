"""The parallel benchmark runner: run a suite's tasks, score them, write each result as it ends.

How one task is solved is not this module's business: `run_one(task, repeat, workdir)` is
handed in (the CLI passes a `TeamRunner`; tests pass small real solvers). The runner owns
everything around it: choosing the tasks, serving the suite's sites, an empty workdir per
run, a pool of `concurrency` workers, scoring, `results.jsonl`, `--resume`, the progress
display, Ctrl-C, and the report at the end.

`task.file_path` is the suite's own file: `run_one` must not change it (the team copies it
into its workspace, where the sandbox may write). Jobs run repeat-major (every task once,
then every task again), so a run stopped early still has a complete pass@1 over whatever
it finished.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

from rich.console import Console

from magentic.bench import manifest
from magentic.bench.judge import Judge, last_screenshots
from magentic.bench.progress import NoProgress, make_progress
from magentic.bench.report import rich_table, summarize, summary_json, write_reports
from magentic.bench.results import ResultStore, Status, TaskResult, merge
from magentic.bench.scoring import extract_final_answer
from magentic.bench.sites import SiteServer
from magentic.bench.suite import SITE_PLACEHOLDER, BenchTask, Shard, Suite
from magentic.bench.suites import adapter, credit, load_suite
from magentic.errors import ConfigError, MagenticError
from magentic.secrets import redact

EXIT_OK, EXIT_TASK_ERRORS, EXIT_INTERRUPTED = 0, 1, 130


@dataclass
class TaskOutcome:
    """What solving one task produced; `answer` is the team's final answer text, unparsed."""

    answer: str
    status: Status = "answered"
    stop_reason: str = ""
    rounds: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    trace_path: Path | None = None
    reasoning: str = ""
    error: str | None = None
    failed_calls: int = 0


RunOne = Callable[[BenchTask, int, Path], Awaitable[TaskOutcome]]


@runtime_checkable
class Resumes(Protocol):
    """A `run_one` that can also go on with a task a killed bench left in flight.

    `resume` returns None when the workdir holds nothing it can go on from (no checkpoint,
    a bad one, a finished run); the runner then starts the task afresh."""

    async def resume(self, task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome | None: ...


@dataclass
class BenchOptions:
    """`magentic bench SUITE ...`, one field per flag."""

    suite: Path
    level: int | None = None
    tasks: list[str] | None = None
    limit: int | None = None
    repeat: int = 1
    concurrency: int = 1
    out: Path | None = None
    resume: bool = False
    shard: str | None = None  # "I/N", 1-based
    model: str | None = None  # read by the run_one factory, recorded in run.json
    json_output: bool = False
    task_timeout: float | None = None  # a hard stop per task, above the team's own budgets
    judge_model: str | None = None  # recorded in the manifest; the Judge itself is passed in
    ray: str | None = None  # `--ray ADDRESS`, recorded in run.json; the cluster is passed in
    export: str | None = None  # "atif": each task's run also as OUT/atif/TASK.REPEAT.json
    # The config's secret-free summary, for manifest.json (the CLI passes it; tests may not).
    config: dict[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.suite = Path(self.suite)
        for name in ("repeat", "concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be at least 1")
        if self.limit is not None and self.limit < 0:
            raise ConfigError("--limit must not be negative")
        if self.task_timeout is not None and self.task_timeout <= 0:
            raise ConfigError("--task-timeout must be positive")
        if self.resume and self.out is None:
            raise ConfigError("--resume needs --out DIR (the folder of the run to continue)")
        self.parsed_shard  # noqa: B018 - parse now, so a bad value fails before any work

    @property
    def parsed_shard(self) -> Shard | None:
        return Shard.parse(self.shard) if self.shard else None

    def out_dir(self, suite_name: str) -> Path:
        """The results folder, absolute: each task's run folder and workspace lie in it,
        and agents open their files from the workspace, not from where the bench started."""
        if self.out is not None:
            return Path(os.path.abspath(self.out))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        shard = f"-shard{self.shard.replace('/', 'of')}" if self.shard else ""
        return Path(os.path.abspath(Path("runs") / "bench" / f"{suite_name}-{stamp}{shard}"))


@dataclass
class BenchRun:
    out: Path
    planned: int  # (task, repeat) jobs this invocation had to run
    skipped: int  # jobs already done (resume)
    results: list[TaskResult] = field(default_factory=list)  # written by this invocation
    stopped: str | None = None  # why the run ended before its jobs did (a cluster without nodes)


class Cluster(Protocol):
    """Where `--ray` runs jobs (`magentic.bench.ray_runner.RayCluster`): each job's result goes
    to `record` once, as it ends. Returns None when every job ran, else why it stopped."""

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
    ) -> str | None: ...


async def run_bench(
    suite: Suite,
    options: BenchOptions,
    run_one: RunOne,
    *,
    progress: Callable[[int], NoProgress] = NoProgress,
    judge: Judge | None = None,
    cluster: Cluster | None = None,
) -> BenchRun:
    """Run the selected tasks and append each result to OUT/results.jsonl as it ends.

    Cancelling this coroutine stops the tasks in flight (they leave no record, so `--resume`
    goes on with them from their checkpoints) and keeps every result already written.
    `progress(total)` makes the display, once the number of jobs left is known. With a
    `cluster` (`--ray`) the jobs run there instead of in this process; choosing, recording
    and resuming stay here.
    """
    if adapter(suite.kind).judged and judge is None:
        raise ConfigError(
            f"suite {suite.name} ({suite.kind}) has no exact answers: "
            "give --judge-model MODEL to judge them"
        )
    selection = suite.select(
        level=options.level, task_ids=options.tasks, limit=options.limit, shard=options.parsed_shard
    )
    out = options.out_dir(suite.name)
    store = ResultStore(out)
    existing = await asyncio.to_thread(store.load)
    if existing and not options.resume:
        raise ConfigError(f"{store.path} already has results; add --resume or choose another --out")
    done = {r.key for r in existing if r.status != "error"}
    jobs = [
        (task, repeat)
        for repeat in range(options.repeat)
        for task in selection
        if (task.task_id, repeat) not in done
    ]
    run = BenchRun(out=out, planned=len(jobs), skipped=len(selection) * options.repeat - len(jobs))
    await asyncio.to_thread(_write_manifest, out, suite, options)
    await asyncio.to_thread(_write_run_info, out, suite, options, selection)
    view = progress(len(jobs))
    if not jobs:
        return run
    needs_site = suite.sites_dir is not None and any(
        SITE_PLACEHOLDER in task.question for task, _ in jobs
    )

    async def record(result: TaskResult) -> None:
        await asyncio.to_thread(store.append, result)
        if options.export == "atif":
            from magentic.trace.atif import export_bench_task

            args = (out, result.task_id, result.repeat, result.trace_path)
            await asyncio.to_thread(export_bench_task, *args)
        run.results.append(result)
        view.finished(result)

    if cluster is not None:
        with view:
            run.stopped = await cluster.run(
                jobs,
                suite=suite,
                options=options,
                out=out,
                judge=judge,
                started=view.started,
                record=record,
                sites=suite.sites_dir if needs_site else None,
            )
        return run
    queue: asyncio.Queue[tuple[BenchTask, int]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker(base_url: str | None) -> None:
        while not queue.empty():
            task, repeat = queue.get_nowait()
            view.started(task.task_id, repeat)
            result = await run_job(
                replace(task, suite=suite.name),  # for run_one's telemetry attributes
                repeat,
                out,
                base_url,
                run_one,
                options.task_timeout,
                kind=suite.kind,
                judge=judge,
                resume=options.resume,
            )
            await record(result)

    async def run_all(base_url: str | None) -> None:
        workers = min(options.concurrency, len(jobs))
        await asyncio.gather(*(worker(base_url) for _ in range(workers)))

    with view:
        if needs_site and suite.sites_dir is not None:
            async with SiteServer(suite.sites_dir) as site:
                await run_all(site.base_url)
        else:
            await run_all(None)
    return run


async def run_job(
    task: BenchTask,
    repeat: int,
    out: Path,
    base_url: str | None,
    run_one: RunOne,
    timeout: float | None,
    *,
    kind: str = "gaia",
    judge: Judge | None = None,
    resume: bool = False,
) -> TaskResult:
    """One (task, repeat): fresh workdir, solve, score. Only cancellation escapes.

    With `resume`, a task that a killed bench left in flight goes on from its checkpoint
    (when `run_one` can do that) instead of starting again in a wiped workdir."""
    workdir = out / task_folder(task.task_id, repeat)
    task = task.with_site(base_url)
    started = time.monotonic()
    try:
        solving = await _start(task, repeat, workdir, run_one, resume)
        outcome = await (asyncio.wait_for(solving, timeout) if timeout else solving)
    except asyncio.TimeoutError:
        outcome = await asyncio.to_thread(
            outcome_from_trace,
            workdir,
            TaskOutcome(
                answer="", status="out_of_budget", stop_reason=f"task timeout ({timeout:g} s)"
            ),
        )
    except MagenticError as exc:
        outcome = TaskOutcome(answer="", status="failed", stop_reason=exc.reason, error=exc.reason)
    except Exception as exc:  # a crash of one task must not end the suite
        details = redact(traceback.format_exc())
        await asyncio.to_thread((workdir / "error.txt").write_text, details, encoding="utf-8")
        outcome = TaskOutcome(
            answer="", status="error", stop_reason="crashed", error=f"{type(exc).__name__}: {exc}"
        )
    outcome = _redacted(outcome)
    answer = extract_final_answer(outcome.answer)
    earned = credit(kind, answer, task.truth)
    reasons = None
    if judge is not None and adapter(kind).judged:
        if answer:
            shots = await asyncio.to_thread(last_screenshots, outcome.trace_path)
            judgement = await judge.judge(task.question, answer, shots)
            earned = None if judgement.success is None else float(judgement.success)
            reasons = redact(judgement.reasons)
        else:
            earned, reasons = 0.0, "no final answer to judge"
    return TaskResult(
        task_id=task.task_id,
        repeat=repeat,
        level=task.level,
        question=task.question,
        answer=answer,
        truth=task.truth,
        correct=None if earned is None else earned >= 1.0,
        credit=earned,
        judge_reasons=reasons,
        status=outcome.status,
        stop_reason=outcome.stop_reason,
        rounds=outcome.rounds,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        cost=outcome.cost,
        seconds=round(time.monotonic() - started, 3),
        trace_path=_relative(outcome.trace_path, out),
        reasoning=outcome.reasoning,
        error=outcome.error,
        failed_calls=outcome.failed_calls,
    )


async def _start(
    task: BenchTask, repeat: int, workdir: Path, run_one: RunOne, resume: bool
) -> Awaitable[TaskOutcome]:
    """The job's work: going on from the workdir's checkpoint, or afresh in an empty one."""
    if resume and isinstance(run_one, Resumes) and await asyncio.to_thread(workdir.is_dir):
        return _resumed_or_afresh(task, repeat, workdir, run_one)
    await asyncio.to_thread(_fresh_workdir, workdir)
    return run_one(task, repeat, workdir)


async def _resumed_or_afresh(
    task: BenchTask, repeat: int, workdir: Path, run_one: Resumes
) -> TaskOutcome:
    outcome = await run_one.resume(task, repeat, workdir)
    if outcome is not None:
        return outcome
    await asyncio.to_thread(_fresh_workdir, workdir)
    return await run_one(task, repeat, workdir)  # type: ignore[operator]


def outcome_from_trace(workdir: Path, outcome: TaskOutcome) -> TaskOutcome:
    """What a task cut off by its time-out did: rounds, tokens and cost from the trace its
    run left in the workdir (its last event is written even when the run is cancelled)."""
    from magentic.trace.writer import read_trace

    trace = workdir / "trace.jsonl"
    if not trace.is_file():
        return outcome
    try:
        events = read_trace(trace)
    except (OSError, ValueError):
        return outcome
    outcome.trace_path = trace
    outcome.failed_calls = sum(1 for e in events if e.kind == "model_call_failed")
    called = [e for e in events if e.kind == "model_called"]
    outcome.prompt_tokens = sum(getattr(e, "prompt_tokens", 0) for e in called)
    outcome.completion_tokens = sum(getattr(e, "completion_tokens", 0) for e in called)
    outcome.cost = sum(getattr(e, "cost", 0.0) for e in called)
    rounds = [
        getattr(e, "round", 0) for e in events if e.kind in ("delegated", "progress_assessed")
    ]
    outcome.rounds = max(rounds, default=0)
    finished = [e for e in events if e.kind == "run_finished"]
    if finished:
        outcome.rounds = max(outcome.rounds, getattr(finished[-1], "rounds", 0))
        outcome.answer = outcome.answer or getattr(finished[-1], "answer", "")
    return outcome


def _redacted(outcome: TaskOutcome) -> TaskOutcome:
    """The outcome with every known secret taken out: an endpoint may echo the API key into
    an answer or an error, and from here it would reach results.jsonl, report.md and the
    submission file."""
    return replace(
        outcome,
        answer=redact(outcome.answer),
        stop_reason=redact(outcome.stop_reason),
        reasoning=redact(outcome.reasoning),
        error=redact(outcome.error) if outcome.error else outcome.error,
    )


def _fresh_workdir(workdir: Path) -> None:
    """An empty workdir: a killed earlier try of this task may have left one behind."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)


def task_folder(task_id: str, repeat: int) -> Path:
    """Where one job's run folder goes, relative to OUT (on any machine)."""
    return Path("tasks") / (re.sub(r"[^A-Za-z0-9._-]", "_", task_id) or "_") / f"r{repeat}"


def _relative(path: Path | None, out: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path)


def _option_values(options: BenchOptions) -> dict[str, Any]:
    values = asdict(options)
    values.pop("config", None)
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


def _write_manifest(out: Path, suite: Suite, options: BenchOptions) -> None:
    """manifest.json. A resumed run must be the same system on the same suite as the one it
    continues (code, prompts, config, models); its flags may change (a longer time-out for
    the tasks that crashed, more tasks)."""
    current = manifest.build(suite, _option_values(options), options.config)
    previous = manifest.read(out)
    if previous is not None:
        fields = [f for f in manifest.differences(previous, current) if "selection" not in f]
        if fields:
            raise ConfigError(
                f"{out} holds a different run (its manifest differs in {', '.join(fields)}); "
                "resume it with the same code, config, suite and flags, or choose another --out"
            )
        return
    manifest.write(out, current)


def _write_run_info(
    out: Path, suite: Suite, options: BenchOptions, tasks: Sequence[BenchTask]
) -> None:
    """run.json: what was asked for, so a results folder explains itself later."""
    out.mkdir(parents=True, exist_ok=True)
    info = {
        "suite": str(suite.root),
        "options": _option_values(options),
        "tasks": [t.task_id for t in tasks],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / "run.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


async def bench_main(
    options: BenchOptions,
    run_one: RunOne,
    *,
    console: Console | None = None,
    judge: Judge | None = None,
    cluster: Cluster | None = None,
    json_out: TextIO | None = None,
) -> int:
    """`magentic bench SUITE ...`: run, then print the table and write report.md.

    `--json`'s line goes to `json_out` (default: stdout); the CLI of a Ray run passes the real
    stdout there and sends everything else printed to stdout (Ray's notices) to stderr.

    Exit code 0 when every task ran (right or wrong), 1 when some crashed or every task
    errored (a model endpoint that failed them all), 130 on Ctrl-C.
    Configuration mistakes raise ConfigError for the CLI to print.
    """
    console = console or _console(stderr=options.json_output)
    suite = await asyncio.to_thread(load_suite, options.suite)

    def view(total: int) -> NoProgress:
        return make_progress(total, console, json_output=options.json_output)

    main = asyncio.ensure_future(
        run_bench(suite, options, run_one, progress=view, judge=judge, cluster=cluster)
    )
    interrupted = _cancel_on_ctrl_c(main)
    try:
        run = await main
    except asyncio.CancelledError:
        if not interrupted():
            raise
        run = None
    finally:
        _restore_ctrl_c()
    out = run.out if run else options.out_dir(suite.name)
    results = await asyncio.to_thread(ResultStore(out).load)
    title = f"{suite.name}" + (f" · {options.model}" if options.model else "")
    await asyncio.to_thread(write_reports, out, results, title=title)
    rows = summarize(results)
    if options.json_output:
        line = {
            "out": str(out),
            "planned": run.planned if run else None,
            "skipped": run.skipped if run else None,
            "interrupted": run is None,
            "stopped": run.stopped if run else None,
            "levels": summary_json(rows),
        }
        print(json.dumps(line), file=json_out or sys.stdout, flush=True)
    else:
        console.print(rich_table(rows, title=title))
        console.print(f"results: {out / 'results.jsonl'}  report: {out / 'report.md'}")
    if run is None:
        console.print(
            f"interrupted: {len(results)} results kept; continue with --resume --out {out}"
        )
        return EXIT_INTERRUPTED
    if run.stopped:
        console.print(
            f"stopped early: {run.stopped}; {len(run.results)} of {run.planned} tasks finished "
            f"and are kept; continue with --resume --out {out}"
        )
        return EXIT_TASK_ERRORS
    if run.results and all(r.errored for r in run.results):
        console.print("every task errored: nothing was measured")
        return EXIT_TASK_ERRORS
    return EXIT_TASK_ERRORS if any(r.status == "error" for r in run.results) else EXIT_OK


def list_main(options: BenchOptions) -> int:
    """`magentic bench SUITE --list`: the tasks a run with these flags would cover, one a line
    (id, level, attachment), or one JSON object a line with `--json`. Nothing is run."""
    suite = load_suite(options.suite)
    selection = suite.select(
        level=options.level, task_ids=options.tasks, limit=options.limit, shard=options.parsed_shard
    )
    for task in selection:
        attachment = str(task.file_path.relative_to(suite.root)) if task.file_path else ""
        if options.json_output:
            row = {"task_id": task.task_id, "level": task.level, "attachment": attachment}
            print(json.dumps(row), flush=True)
        else:
            print(f"{task.task_id}\tlevel {task.level}\t{attachment or '-'}", flush=True)
    if not options.json_output:
        print(f"{len(selection)} of {len(suite.tasks)} tasks in {suite.name}", file=sys.stderr)
    return EXIT_OK


def _console(*, stderr: bool = False) -> Console:
    """Rich's console; in a log file (no terminal) wide enough not to squeeze the table."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160
    return console


def _cancel_on_ctrl_c(main: asyncio.Future[BenchRun]) -> Callable[[], bool]:
    """First Ctrl-C cancels the run cleanly; a second one is Python's usual KeyboardInterrupt."""
    state = {"hit": False}

    def on_sigint() -> None:
        state["hit"] = True
        main.cancel()
        _restore_ctrl_c()

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
        pass
    return lambda: state["hit"]


def _restore_ctrl_c() -> None:
    try:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
    except (NotImplementedError, RuntimeError, ValueError):
        pass


def merge_main(
    folders: Sequence[str | Path],
    out: str | Path,
    *,
    force: bool = False,
    console: Console | None = None,
) -> int:
    """`magentic bench merge OUT_DIRS... --out DIR`: one results.jsonl, report.md, submission.

    The folders' manifests must agree (same code, config, prompts, suite and selection)
    unless `force`; the merged folder gets the first one's, listing where it came from."""
    if not folders:
        raise ConfigError("merge needs at least one results folder")
    console = console or _console()
    base = manifest.check_same([Path(f) for f in folders], force=force)
    store = merge(folders, out)
    if base is not None:
        merged = {**base, "merged_from": [str(f) for f in folders], "forced": force}
        manifest.write(Path(out), merged)
    results = store.load()
    title = f"merged {len(folders)} folders"
    write_reports(Path(out), results, title=title)
    console.print(rich_table(summarize(results), title=title))
    console.print(f"results: {store.path}  report: {Path(out) / 'report.md'}")
    return EXIT_OK
