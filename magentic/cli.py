"""`magentic run | resume | trace | doctor | sandbox | bench | init | mcp`: parsing only; the work lives elsewhere.

Exit codes: 0 answered, 1 failed or out of budget, 2 bad usage or configuration, 130 on
Ctrl-C. Errors print one line; a traceback only with MAGENTIC_DEBUG=1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from magentic import __version__
from magentic.errors import ConfigError, MagenticError
from magentic.secrets import redact_logging, redacted_stdio
from magentic.text import escape_surrogates

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
T = TypeVar("T")


def run_async(work: Coroutine[Any, Any, T], on_interrupt: Callable[[], bool] | None = None) -> T:
    """asyncio.run, ended by SIGTERM or Ctrl-C whatever a thread is doing.

    The first signal cancels the work, so the run's finally blocks close the browser and the
    sandbox and the trace gets its last event; if the process has not ended within the grace
    period (MAGENTIC_STOP_GRACE_S, 10 s) it exits hard (see `magentic.stopping`). With
    `on_interrupt` (a console face) the first Ctrl-C asks for a pause instead.
    """
    from magentic.stopping import run_until_stopped

    return run_until_stopped(work, on_interrupt=on_interrupt)


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="a TOML config file")
    parser.add_argument("--model", help="model name for every role (overrides the config)")
    parser.add_argument(
        "--base-url", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    parser.add_argument("--api-key-env", help="environment variable holding the API key")
    parser.add_argument(
        "--cache", choices=["off", "read_write", "replay"], help="record/replay model calls"
    )
    parser.add_argument("--cache-path", type=Path, help="the record/replay cache file")
    parser.add_argument("--max-rounds", type=int, help="budget: orchestrator rounds")
    parser.add_argument("--max-seconds", type=float, help="budget: wall-clock seconds")
    parser.add_argument("--max-tokens", type=int, help="budget: model tokens")
    parser.add_argument("--max-cost", type=float, help="budget: US dollars")
    parser.add_argument("--agents", help="comma-separated team, e.g. WebSurfer,Coder")
    parser.add_argument("--sandbox", choices=["docker", "bwrap", "local"], help="where code runs")
    parser.add_argument("--headed", action="store_true", help="show the browser window")
    parser.add_argument("--slow-mo", type=int, metavar="MS", help="slow each browser action")
    parser.add_argument(
        "--step", action="store_true", help="ask before each browser action ([approval] web_action)"
    )
    parser.add_argument(
        "--yes", action="store_true", help="allow every action the [approval] table would ask about"
    )
    parser.add_argument("--text-only", action="store_true", help="no screenshots to the models")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Flags as dotted config keys; None means 'not given'."""
    # `--agents ""` is an empty team (refused later), not "the default team"
    agents = (
        [a.strip() for a in args.agents.split(",") if a.strip()]
        if args.agents is not None
        else None
    )
    flags: dict[str, Any] = {
        "models.default.model": args.model,
        "models.default.base_url": args.base_url,
        "models.default.api_key_env": args.api_key_env,
        "cache.mode": args.cache,
        "cache.path": args.cache_path,
        "orchestrator.budgets.max_rounds": args.max_rounds,
        "orchestrator.budgets.max_seconds": args.max_seconds,
        "orchestrator.budgets.max_tokens": args.max_tokens,
        "orchestrator.budgets.max_cost": args.max_cost,
        "agents": agents,
        "sandbox.kind": args.sandbox,
        "web.headless": False if args.headed else None,
        "web.slow_mo_ms": args.slow_mo,
        "approval.web_action": "ask" if args.step else None,
        "approval.yes": True if args.yes else None,
        "web.text_only": True if args.text_only else None,
    }
    if getattr(args, "trace_dir", None) is not None:
        flags["trace_dir"] = args.trace_dir
    if getattr(args, "review_plan", False):
        flags["orchestrator.review_plan"] = True
    return flags


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """`-v` after the subcommand too (`magentic run TASK -v`); SUPPRESS keeps a `-v` given
    before it from being reset by the subcommand's default."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print every agent action",
    )


# Environment variables, as `magentic --help` lists them (tests/test_docs.py checks this
# against the config's own table, so a new variable cannot go unsaid).
ENVIRONMENT = {
    "OPENAI_API_KEY": "the API key (or the variable --api-key-env names)",
    "OPENAI_BASE_URL": "the endpoint, like --base-url",
    "MAGENTIC_BASE_URL": "the endpoint, like --base-url (wins over OPENAI_BASE_URL)",
    "MAGENTIC_MODEL": "--model",
    "MAGENTIC_API_KEY_ENV": "--api-key-env: the variable that holds the key",
    "MAGENTIC_MAX_ROUNDS": "--max-rounds",
    "MAGENTIC_MAX_SECONDS": "--max-seconds",
    "MAGENTIC_MAX_TOKENS": "--max-tokens",
    "MAGENTIC_MAX_COST": "--max-cost",
    "MAGENTIC_TRACE_DIR": "--trace-dir",
    "MAGENTIC_CACHE": "--cache",
    "MAGENTIC_CACHE_PATH": "--cache-path",
    "MAGENTIC_SANDBOX": "--sandbox",
    "MAGENTIC_DEBUG": "1: debug logs, and a traceback instead of an error's one line",
    "MAGENTIC_STOP_GRACE_S": "seconds a stopped run may take to end cleanly (10)",
    "MAGENTIC_CONFIG": "the config file when no --config is given "
    "(else $XDG_CONFIG_HOME/magentic/config.toml, else ~/.config/magentic/config.toml)",
    "MAGENTIC_CHROMIUM": "the Chromium to use, before Playwright's and the system's",
    "MAGENTIC_STATE_DIR": "where records of running MCP servers are kept, so the next start "
    "ends what a killed run left (else $XDG_STATE_HOME/magentic)",
    "MAGENTIC_MCP_NO_CGROUP": "1: run MCP servers without a cgroup of their own",
}


def build_parser() -> argparse.ArgumentParser:
    width = max(map(len, ENVIRONMENT))
    parser = argparse.ArgumentParser(
        prog="magentic",
        description="A generalist multi-agent team for web, file and code tasks.",
        epilog="environment (flags win over them; a config file loses to both):\n"
        + "\n".join(f"  {name:<{width}}  {what}" for name, what in ENVIRONMENT.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"magentic {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every agent action")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run one task")
    _add_verbose(run)
    run.add_argument("task", help="the task, in words")
    run.add_argument(
        "--file", action="append", type=Path, default=[], help="attach a file (repeatable)"
    )
    run.add_argument("--trace-dir", type=Path, help="where run folders go (default: runs/)")
    run.add_argument("--answer-format", help="how the final answer must be written")
    run.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the answer"
    )
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument("--ui", action="store_true", help="watch the run in a local web view")
    run.add_argument("--ui-port", type=int, default=0, help="the web view's port (default: any)")
    run.add_argument(
        "--review-plan",
        action="store_true",
        help="show the plan before work starts and after each replan: approve, edit or comment",
    )
    run.add_argument(
        "--interactive",
        action="store_true",
        help="a person is here: add the User agent and answer at the console, even from a pipe",
    )
    _add_model_flags(run)

    resume = commands.add_parser(
        "resume",
        help="go on with a killed, cancelled or budget-stopped run from its checkpoint",
        description="Continue a run in its own folder, from the last round it finished, with "
        "the config it was made with. Flags override that config; budgets count the whole "
        "run, so a run stopped at 10 rounds goes on with --max-rounds 20 for 10 more.",
    )
    resume.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run's folder")
    _add_verbose(resume)
    resume.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the answer"
    )
    resume.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    resume.add_argument("--base-url", help="the model endpoint, if it moved")
    resume.add_argument("--model", help="model name for every role")
    resume.add_argument("--api-key-env", help="environment variable holding the API key")
    resume.add_argument("--max-rounds", type=int, help="budget: rounds, in all")
    resume.add_argument("--max-seconds", type=float, help="budget: wall-clock seconds, in all")
    resume.add_argument("--max-tokens", type=int, help="budget: model tokens, in all")
    resume.add_argument("--max-cost", type=float, help="budget: US dollars, in all")
    resume.add_argument("--headed", action="store_true", help="show the browser window")
    resume.add_argument(
        "--config", type=Path, help="your TOML config: endpoints, MCP, sandbox, approvals"
    )
    resume.add_argument("--sandbox", choices=["docker", "bwrap", "local"], help="where code runs")
    resume.add_argument(
        "--accept-recorded-config",
        action="store_true",
        help="use the endpoints, key variables, MCP servers, sandbox and approval rules the "
        "folder recorded where they differ from yours (only for a folder you trust)",
    )
    resume.add_argument(
        "--interactive", action="store_true", help="a person answers on stdin, as for run"
    )

    ui = commands.add_parser(
        "ui",
        help="a local web view of runs and benches, live as they go",
        description="Serve a web view of run and bench folders. It opens only with the link "
        "printed on stderr when it starts (it carries a key; the first visit trades it for a "
        "cookie of this browser), answers only to its own address, and takes commands only "
        "from its own pages. It lists only folders you own, never a run's workspace.",
    )
    ui.add_argument(
        "dirs", nargs="*", type=Path, metavar="DIR", help="run or bench folders (default: runs/)"
    )
    ui.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default: 8765)")
    ui.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="serve on a Unix socket instead of a port: created 0600 in a folder that is yours "
        "alone (0700, made if missing), so no other user can connect; open it through a "
        "tunnel, e.g. ssh -L 8765:PATH host, then the printed link on localhost:8765",
    )

    bench = commands.add_parser(
        "bench",
        help="run a GAIA-style suite (or: bench merge DIRS... --out DIR)",
        description="Run a benchmark suite in parallel, score it, and write a report. "
        "`magentic bench merge DIRS... --out DIR` combines the results of shards.",
    )
    bench.add_argument(
        "suite", type=Path, help="a suite: GAIA folder (metadata.jsonl or .parquet) or its file"
    )
    bench.add_argument("--level", type=int, help="only tasks of this level")
    bench.add_argument("--tasks", help="only these task ids, comma-separated")
    bench.add_argument("--limit", type=int, help="at most this many tasks")
    bench.add_argument("--repeat", type=int, default=1, help="run each task K times")
    bench.add_argument("--concurrency", type=int, default=1, help="tasks at once")
    bench.add_argument(
        "--out", type=Path, help="results folder (default: a new one in runs/bench/)"
    )
    bench.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out: finished tasks are kept, tasks left in flight go on "
        "from their checkpoints, the rest start",
    )
    bench.add_argument("--shard", help="I/N: run the I-th of N deterministic slices")
    bench.add_argument("--task-timeout", type=float, help="hard stop per task, in seconds")
    bench.add_argument("--json", action="store_true", help="print one JSON summary line")
    bench.add_argument("--ui", action="store_true", help="watch the bench in a local web view")
    bench.add_argument(
        "--list", action="store_true", help="print the tasks that would run, then exit"
    )
    bench.add_argument(
        "--judge-model", help="model that judges tasks without exact answers (WebVoyager-style)"
    )
    bench.add_argument(
        "--export", choices=["atif"], help="also write each task's run as a trajectory file"
    )
    bench.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run each task on a Ray cluster: its head's HOST:PORT, or 'auto' (needs magentic-team[ray])",
    )
    bench.add_argument(
        "--ray-allow-unauthenticated",
        action="store_true",
        help="use a Ray cluster that runs code for anyone who reaches it (no RAY_AUTH_MODE=token)"
        " all the same: only on a network that nobody else can reach",
    )
    _add_model_flags(bench)

    doctor = commands.add_parser(
        "doctor", help="check Docker, the sandbox image and Chromium, or a model endpoint"
    )
    doctor.add_argument("--config", type=Path, help="a TOML config file (for the image name)")
    doctor.add_argument("--model", help="with --base-url: the model to probe")
    doctor.add_argument("--base-url", help="probe this model endpoint's capabilities")
    doctor.add_argument("--api-key-env", help="environment variable holding the API key")
    doctor.add_argument("--json", action="store_true", help="print one JSON object")

    sandbox = commands.add_parser("sandbox", help="run code exactly as the ComputerTerminal would")
    sandbox_commands = sandbox.add_subparsers(
        dest="sandbox_command", metavar="ACTION", required=True
    )
    sandbox_run = sandbox_commands.add_parser("run", help="run a .py or .sh file in the sandbox")
    sandbox_run.add_argument("file", type=Path)
    sandbox_run.add_argument("--sandbox", choices=["docker", "bwrap", "local"], default=None)
    sandbox_run.add_argument("--timeout", type=float, help="seconds before the code is killed")
    sandbox_run.add_argument(
        "--network", action="store_true", help="let the code reach the network"
    )
    sandbox_run.add_argument("--config", type=Path, help="a TOML config file ([sandbox] table)")
    sandbox_run.add_argument(
        "--keep", action="store_true", help="keep the temporary workspace (its path is printed)"
    )

    trace = commands.add_parser("trace", help="look at a finished run")
    trace_commands = trace.add_subparsers(dest="trace_command", metavar="ACTION", required=True)
    show = trace_commands.add_parser("show", help="print a run's trace as readable lines")
    show.add_argument("path", type=Path, help="a run folder or its trace.jsonl")
    report = trace_commands.add_parser("html", help="write report.html beside a run's trace")
    report.add_argument("path", type=Path, help="a run folder or its trace.jsonl")
    from magentic.onboard import commands as onboard

    onboard.register_trace_export(trace_commands)
    onboard.register(commands)  # init, mcp
    return parser


def build_merge_parser() -> argparse.ArgumentParser:
    merge = argparse.ArgumentParser(
        prog="magentic bench merge", description="Combine the results of several bench runs."
    )
    merge.add_argument("folders", nargs="+", type=Path, help="results folders (e.g. shards)")
    merge.add_argument("--out", type=Path, required=True, help="the merged results folder")
    merge.add_argument(
        "--force", action="store_true", help="merge even when the runs' manifests differ"
    )
    return merge


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["bench", "merge"]:
        merge_args = build_merge_parser().parse_args(argv[2:])
        with redacted_stdio():
            return _guarded(lambda: _bench_merge(merge_args))
    from magentic.onboard.commands import split_server_command

    argv, server_command = split_server_command(argv)  # `mcp add NAME -- COMMAND ARGS...`
    parser = build_parser()
    args = parser.parse_args(argv)
    args.server_command = server_command
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    handlers = {
        "run": _run,
        "resume": _resume,
        "trace": _trace,
        "bench": _bench,
        "doctor": _doctor,
        "ui": _ui,
        "sandbox": _sandbox_run,
    }
    from magentic.onboard.commands import handlers as onboard_handlers

    handlers.update(onboard_handlers())
    with redacted_stdio():  # every line printed or logged from here on is redacted
        logging.basicConfig(
            level=logging.DEBUG if os.environ.get("MAGENTIC_DEBUG") else logging.ERROR,
            format="%(levelname)s %(name)s: %(message)s",
        )
        redact_logging()
        return _guarded(lambda: handlers[args.command](args))


def _guarded(command: Callable[[], int]) -> int:
    """Run a command, turning every error into one line and an exit code."""
    try:
        return command()
    except ConfigError as error:
        print(f"magentic: {error.reason}", file=sys.stderr)
        return EXIT_USAGE
    except MagenticError as error:
        print(f"magentic: {error.reason}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("magentic: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except asyncio.CancelledError:
        print("magentic: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as error:  # the last line of defence: one line, never a traceback
        if os.environ.get("MAGENTIC_DEBUG"):  # the traceback, through the redacted stderr
            traceback.print_exc()
            return EXIT_FAILED
        print(
            f"magentic: internal error: {type(error).__name__}: {error} "
            "(set MAGENTIC_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    from magentic.attachments import check_attachment
    from magentic.config import load_config
    from magentic.control.channel import ControlChannel
    from magentic.team import check_agent_names, check_can_start, run_task

    task = escape_surrogates(args.task).strip()
    if not task:
        raise ConfigError("the task is empty: say in words what the team should do")
    overrides = _overrides(args)
    if args.answer_format:
        overrides["orchestrator.answer_format"] = args.answer_format
    config = load_config(args.config, overrides=overrides)
    if args.interactive and "User" not in config.agents:
        config.agents = [*config.agents, "User"]
    check_agent_names(config.agents, config.mcp.agent_names())
    check_can_start(config)
    max_bytes = int(config.attachments.max_mb * 1024 * 1024)
    for path in args.file:  # refused now, before any model is called
        check_attachment(path, max_bytes)
    watcher = _watcher(args, step_mode=config.approval.web_action == "ask")
    subscribers: list[Any] = [watcher if watcher is not None else _notices()]
    last: dict[str, Any] = {}
    subscribers.append(lambda event: _keep_outcome(last, event, config.trace_dir))
    control = ControlChannel()
    face = _console_face(args, control, watcher)
    if face is not None:
        subscribers.append(face)
    from magentic.ui.telemetry import telemetry_for

    # on with a [telemetry] table, or when OTEL_EXPORTER_OTLP_* names an endpoint
    telemetry = telemetry_for(config.telemetry)
    if telemetry is not None:
        subscribers.append(telemetry)
    work = run_task(task, config, files=args.file, subscribers=subscribers, control=control)
    if args.ui:
        work = _with_web_view(work, config.trace_dir, args.ui_port, subscribers, control)
    try:
        # the live console draws while the run lasts (rich is imported only for it)
        live = watcher if hasattr(watcher, "__enter__") else contextlib.nullcontext()
        with live:
            result = run_async(work, on_interrupt=face.interrupt if face is not None else None)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if args.json:  # the partial result: what the run did before it was stopped
            print(json.dumps(last or {"status": "cancelled", "stop_reason": "interrupted"}))
        raise
    finally:
        if telemetry is not None:
            telemetry.close()
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(result.answer if result.answer else f"(no answer: {result.stop_reason})")
    return EXIT_OK if result.status == "answered" else EXIT_FAILED


def _resume(args: argparse.Namespace) -> int:
    """`magentic resume RUN_DIR`: everything is checked before anything is written, so a
    bad checkpoint or a budget with no room left changes nothing in the folder."""
    from magentic.control.channel import ControlChannel
    from magentic.team import resume_task

    overrides = {
        "models.default.base_url": args.base_url,
        "models.default.model": args.model,
        "models.default.api_key_env": args.api_key_env,
        "orchestrator.budgets.max_rounds": args.max_rounds,
        "orchestrator.budgets.max_seconds": args.max_seconds,
        "orchestrator.budgets.max_tokens": args.max_tokens,
        "orchestrator.budgets.max_cost": args.max_cost,
        "web.headless": False if args.headed else None,
        "sandbox.kind": args.sandbox,
    }
    resumption = _prepare_resume(args, overrides)
    saved = resumption.checkpoint
    if resumption.finished:
        print(
            f"magentic: {args.run_dir} already finished ({saved.status}); nothing to resume",
            file=sys.stderr,
        )
        if args.json:
            print(json.dumps({"status": saved.status, "answer": saved.answer, "resumed": False}))
        elif saved.answer:
            print(saved.answer)
        return EXIT_OK
    watcher = _watcher(args, step_mode=False)
    subscribers: list[Any] = [watcher if watcher is not None else _notices()]
    control = ControlChannel()  # a resumed run is steered as a new one is
    face = _console_face(args, control, watcher)
    if face is not None:
        subscribers.append(face)
    work = resume_task(resumption, subscribers=subscribers, control=control)
    with watcher if hasattr(watcher, "__enter__") else contextlib.nullcontext():
        result = run_async(work, on_interrupt=face.interrupt if face is not None else None)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(result.answer if result.answer else f"(no answer: {result.stop_reason})")
    return EXIT_OK if result.status == "answered" else EXIT_FAILED


def _prepare_resume(args: argparse.Namespace, overrides: dict[str, Any]) -> Any:
    """The checked resumption. Recorded settings of trust that differ from today's are
    taken only when the person says so: by flag, or by "yes" at a terminal."""
    from magentic.recorded import RecordedConfigDiffers
    from magentic.team import prepare_resume

    def prepare(accept: bool) -> Any:
        return prepare_resume(
            args.run_dir, overrides, config_path=args.config, accept_recorded=accept
        )

    try:
        return prepare(args.accept_recorded_config)
    except RecordedConfigDiffers as differs:
        if not (sys.stdin.isatty() and sys.stderr.isatty()) or args.json:
            raise
        print(
            f"magentic: {args.run_dir} recorded settings that differ from yours:", file=sys.stderr
        )
        for difference in differs.differences:
            print(f"  {difference.render()}", file=sys.stderr)
        print(
            "Use the recorded ones (only if you trust who wrote it)? [y/N] ",
            end="",
            file=sys.stderr,
        )
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise
        return prepare(True)


def _console_face(args: argparse.Namespace, control: Any, watcher: Any) -> Any:
    """The console as a face on the run's control channel when a person is there: stdin is
    a terminal, or `--interactive` says answers come on stdin. None otherwise: then nobody
    is asked at the console, and a Ctrl-C ends the run as it always did."""
    if not (args.interactive or sys.stdin.isatty()):
        return None
    from magentic.ui.console_face import ConsoleFace

    display = watcher if hasattr(watcher, "hold") else None  # the live console, if it is one
    face = ConsoleFace(control, display=display)
    face.attach()
    return face


def _watcher(args: argparse.Namespace, *, step_mode: bool) -> Any:
    """Who shows the run on stderr: nothing with --quiet; the live console on a terminal;
    plain lines to a pipe, with --json, or when the console must ask before each action."""
    if args.quiet:
        return None
    if args.json or step_mode or not sys.stderr.isatty():
        from magentic.ui.console import ConsolePrinter

        return ConsolePrinter(verbose=args.verbose)
    from magentic.ui.live import LiveConsole

    return LiveConsole(verbose=args.verbose)


def _notices() -> Any:
    """With `--quiet`, still the lines the person must see (a run with no sandbox)."""
    from magentic.ui.console import NoticePrinter

    return NoticePrinter()


def _web_view(dirs: list[Path], port: int, socket_path: Path | None = None) -> Any:
    try:
        from magentic.ui.web.app import WebView
    except ImportError as error:
        raise ConfigError(
            f"the web view needs the `ui` extra ({error.name} is missing): "
            "pip install 'magentic-team[ui]'"
        ) from None
    return WebView(dirs, port, socket_path=socket_path)


async def _with_web_view(
    work: Coroutine[Any, Any, T],
    trace_dir: Path,
    port: int,
    subscribers: list[Any],
    control: Any = None,
) -> T:
    """Run `work` with the web view serving its trace folder; the run's page is announced on
    stderr when the run starts, with the view's key (said once). The view closes with the
    run. With `control`, the view is also a face on the run's control channel while it
    serves."""
    view = _web_view([Path(trace_dir)], port)
    await view.start()

    def announce(event: Any) -> None:
        if event.kind == "run_started":
            link = view.link(f"run/0/{event.run_id}")
            print(f"magentic: watch this run at {link}", file=sys.stderr, flush=True)

    subscribers.insert(0, announce)
    subscribers.append(view.streams.push)  # the model's text as it streams, to the page
    if control is not None:  # the page's steering panel: a face while the view serves
        subscribers.append(view.steer(control).push)
    try:
        return await work
    finally:
        await view.stop()


async def _with_bench_view(work: Callable[[list[Any]], Coroutine[Any, Any, T]], folder: Path) -> T:
    """Run a bench with the web view serving its results folder (or the folder its new
    results folder goes in); each task's run streams its model text to the view's pages.
    The view closes when the bench ends."""
    view = _web_view([folder], 0)
    await view.start()
    print(f"magentic: watch this bench at {view.link()}", file=sys.stderr, flush=True)
    try:
        return await work([view.streams.push])
    finally:
        await view.stop()


def _ui(args: argparse.Namespace) -> int:
    dirs = list(args.dirs) or [Path("runs")]
    for folder in dirs:
        if not folder.is_dir():
            print(f"magentic ui: {folder} is not a folder yet; it is shown once it is")
    view = _web_view(dirs, args.port, args.socket)
    served = ", ".join(str(d) for d in dirs)

    async def serve() -> int:
        await view.start()
        if args.socket is not None:
            where = f"on the Unix socket {view.socket_path}; through a tunnel to it, open"
        else:
            where = "at"
        # the key, said once: whoever has this link can read what the view serves
        print(f"magentic ui: serving {served} {where} {view.link()}", file=sys.stderr, flush=True)
        await view.serve_until_stopped()
        return EXIT_OK

    return run_async(serve())


def _keep_outcome(last: dict[str, Any], event: Any, trace_dir: Path) -> None:
    """Keep the run's last word (its RunFinished event) for `run --json` after a Ctrl-C."""
    if event.kind == "run_finished":
        last.clear()
        last.update(event.model_dump(exclude={"kind", "seq", "t", "attachment_paths"}))
        last["trace_path"] = str(Path(trace_dir) / event.run_id / "trace.jsonl")


def _bench(args: argparse.Namespace) -> int:
    from magentic.bench.runner import BenchOptions, bench_main, list_main

    if args.list:
        return list_main(
            BenchOptions(
                suite=args.suite,
                level=args.level,
                tasks=[t.strip() for t in args.tasks.split(",") if t.strip()]
                if args.tasks
                else None,
                limit=args.limit,
                shard=args.shard,
                json_output=args.json,
            )
        )
    from magentic.bench.team import TeamRunner
    from magentic.config import load_config
    from magentic.team import check_agent_names, check_can_start

    config = load_config(args.config, overrides=_overrides(args))
    check_agent_names(config.agents, config.mcp.agent_names())
    check_can_start(config)
    options = BenchOptions(
        suite=args.suite,
        level=args.level,
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
        limit=args.limit,
        repeat=args.repeat,
        concurrency=args.concurrency,
        out=args.out,
        resume=args.resume,
        shard=args.shard,
        model=config.model_for("orchestrator").model,
        json_output=args.json,
        task_timeout=args.task_timeout,
        config=config.summary(),
        judge_model=args.judge_model,
        ray=args.ray,
        export=args.export,
    )

    judge_settings = None
    if args.judge_model:
        judge_settings = config.model_for("default").model_copy(update={"model": args.judge_model})
    cluster = None
    if args.ray:
        from magentic.bench.ray_runner import RayCluster

        cluster = RayCluster(
            args.ray,
            functools.partial(TeamRunner, config),
            judge=judge_settings,
            allow_unauthenticated=args.ray_allow_unauthenticated,
        )
        warning = cluster.connect()  # before the loop: a bad address fails here, in one line
        if warning:
            print(warning, file=sys.stderr)
    json_out = sys.stdout
    from magentic.ui.telemetry import telemetry_for

    telemetry = telemetry_for(config.telemetry)  # one trace per task; TeamRunner closes it

    async def bench(watchers: list[Any]) -> int:
        judge = None
        if judge_settings is not None:
            from magentic.bench.judge import Judge

            judge = Judge(judge_settings)
        try:
            async with TeamRunner(config, telemetry=telemetry, watchers=watchers) as run_one:
                return await bench_main(
                    options, run_one, judge=judge, cluster=cluster, json_out=json_out
                )
        finally:
            if judge is not None:
                await judge.close()

    work = _with_bench_view(bench, args.out or Path("runs") / "bench") if args.ui else bench([])
    if cluster is None:
        return run_async(work)
    with contextlib.redirect_stdout(sys.stderr):  # Ray prints notices (a node died) to stdout
        try:
            return run_async(work)
        finally:
            cluster.close()


def _bench_merge(args: argparse.Namespace) -> int:
    from magentic.bench.runner import merge_main

    return merge_main(args.folders, args.out, force=args.force)


def _doctor(args: argparse.Namespace) -> int:
    from magentic.config import load_config
    from magentic.doctor import check_all

    if args.base_url or args.model:
        return _doctor_endpoint(args)
    config = load_config(args.config)
    checks = asyncio.run(check_all(image=config.sandbox.image, mcp=config.mcp))
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        print(f"{mark} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"     fix: {check.fix}")
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


def _doctor_endpoint(args: argparse.Namespace) -> int:
    """`doctor --model M --base-url U`: a capability table and the settings a run will use."""
    from magentic.config import load_config
    from magentic.doctor import check_endpoint, format_probe_row

    overrides = {
        "models.default.model": args.model,
        "models.default.base_url": args.base_url,
        "models.default.api_key_env": args.api_key_env,
    }
    config = load_config(args.config, overrides=overrides)
    settings = config.model_for("orchestrator")
    rows: list[Any] = []

    def on_row(row: Any) -> None:
        rows.append(row)
        if not args.json:
            print(format_probe_row(row), flush=True)

    if not args.json:
        print(f"probing {settings.model} at {settings.display_url()}", flush=True)
    memory = Path(config.cache.path).parent / "endpoints.json"
    try:
        chosen = run_async(check_endpoint(settings, memory, on_row))
    except (KeyboardInterrupt, asyncio.CancelledError):
        if args.json:  # what was found so far is still worth printing
            print(json.dumps({"interrupted": True, "probes": [r.__dict__ for r in rows]}))
        raise
    if args.json:
        print(json.dumps({"probes": [r.__dict__ for r in rows], "settings": chosen}))
    else:
        print("settings a run will use:")
        for key, value in chosen.items():
            print(f"  {key} = {json.dumps(value)}")
    return EXIT_FAILED if any(r.status == "error" for r in rows) else EXIT_OK


def _sandbox_run(args: argparse.Namespace) -> int:
    from magentic.config import load_config
    from magentic.doctor import sandbox_run_file
    from magentic.execution import SandboxSettings, format_result

    config = load_config(args.config)
    if not args.file.is_file():
        raise ConfigError(f"no such file: {args.file}")
    kind = args.sandbox or config.sandbox.kind
    settings = SandboxSettings.model_validate(config.sandbox.model_dump(exclude={"kind"}))
    workspace = Path(tempfile.mkdtemp(prefix="magentic-sandbox-run-"))
    try:
        result = asyncio.run(
            sandbox_run_file(
                args.file, kind, args.timeout, args.network, settings=settings, workspace=workspace
            )
        )
        print(f"sandbox: {kind}")
        print(format_result(result, workspace))
    finally:
        if args.keep:
            print(f"workspace kept: {workspace}")
        else:  # the code's files are printed above; the folder goes, whatever happened
            shutil.rmtree(workspace, ignore_errors=True)
    return EXIT_OK if result.exit_code == 0 else EXIT_FAILED


def _trace(args: argparse.Namespace) -> int:
    if args.trace_command == "export":
        from magentic.onboard.commands import trace_export

        return trace_export(args)
    return _trace_html(args.path) if args.trace_command == "html" else _trace_show(args.path)


def _check_trace(path: Path) -> None:
    """A run folder with a trace.jsonl, or a trace file; else one line (exit 2)."""
    trace = path / "trace.jsonl" if path.is_dir() else path
    if not trace.is_file():
        where = f"{path} has no trace.jsonl (is it a run folder?)" if path.is_dir() else path
        raise ConfigError(f"no trace at {where}")


def _trace_html(path: Path) -> int:
    from magentic.trace.report import write_report
    from magentic.trace.writer import read_trace

    _check_trace(path)
    run_dir = path if path.is_dir() else path.parent
    print(write_report(run_dir, read_trace(path)))
    return EXIT_OK


def _trace_show(path: Path) -> int:
    from magentic.trace.writer import read_trace
    from magentic.ui.console import ConsolePrinter

    _check_trace(path)
    printer = ConsolePrinter(stream=sys.stdout, verbose=True)
    for event in read_trace(path):
        printer(event)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
