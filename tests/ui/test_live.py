"""The live console: real events from a real scripted run, rendered at 80 columns; and the
CLI's choice between it and the plain lines, seen through a real pseudo-terminal."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from magentic.config import load_config
from magentic.events import Delegated, Event, ModelDelta, RunFinished
from magentic.team import run_task
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from magentic.trace.writer import read_trace
from magentic.ui.live import LiveConsole, LiveState


def _render(state: LiveState) -> str:
    console = Console(record=True, width=80, file=io.StringIO(), color_system=None)
    console.print(state.render())
    return console.export_text()


async def test_the_live_view_of_a_real_run_fits_80_columns(tmp_path: Path) -> None:
    state = LiveState()
    frames: list[tuple[Event, str]] = []

    def watch(event: Event) -> None:
        state.update(event)
        frames.append((event, _render(state)))

    with ScriptedLLMServer(demo_script) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "models.default.stream": True,
                "agents": ["Coder"],
                "cache.mode": "off",
                "trace_dir": tmp_path / "runs",
            },
            environ={},
        )
        result = await run_task(DEMO_TASK, config, subscribers=[watch])
    assert result.status == "answered", result.stop_reason
    for _, frame in frames:
        assert all(len(line) <= 80 for line in frame.splitlines()), frame
    final = frames[-1][1]
    assert "the first 25 prime numbers" in final and "answered" in final
    assert "Coder: Write a program that prints the sum." in final  # the plan
    assert "orchestrator" in final and "coder" in final and "all" in final  # use per role
    # While the Coder was at work: the step in progress, its instruction, its text streaming.
    coding = [
        frame
        for event, frame in frames
        if isinstance(event, ModelDelta) and event.role == "coder" and "primes" in event.text
    ]
    assert coding, "no streamed Coder text was shown"
    assert "▶ 1. Coder: Write a program" in coding[-1]
    assert "agent Coder" in " ".join(coding[-1].split())
    assert "primes" in coding[-1].split("coder", 1)[-1]
    judged = [frame for event, frame in frames if event.kind == "progress_assessed"]
    assert judged and "progress yes · loop no · stalls 0" in judged[0]


async def test_the_live_console_prints_plain_lines_above_its_area(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    with ScriptedLLMServer(demo_script) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "agents": ["Coder"],
                "cache.mode": "off",
                "trace_dir": tmp_path / "runs",
            },
            environ={},
        )
        with LiveConsole(console) as live:
            result = await run_task(DEMO_TASK, config, subscribers=[live])
    assert result.status == "answered"
    shown = out.getvalue()
    assert "→ Coder" in shown and "■ answered" in shown and "model use" in shown


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """`magentic ARGS` with stderr on a real pseudo-terminal and stdout on a pipe."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    env.update({"TERM": "xterm-256color", "COLUMNS": "80", "LINES": "40"})
    process = subprocess.Popen(
        [sys.executable, "-m", "magentic.cli", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.stdout is not None
    answer = process.stdout.read().decode()
    return process.wait(timeout=60), answer, seen.decode(errors="replace")


def test_a_terminal_gets_the_live_console_and_stdout_the_answer_alone(tmp_path: Path) -> None:
    with ScriptedLLMServer(demo_script) as server:
        flags = ["--base-url", server.base_url, "--agents", "Coder"]
        flags += ["--trace-dir", str(tmp_path / "runs")]
        code, answer, terminal = _run_on_a_terminal(["run", DEMO_TASK, *flags], tmp_path)
        quiet_flags = [*flags[:-1], str(tmp_path / "quiet-runs"), "--quiet"]
        quiet_code, _, quiet = _run_on_a_terminal(["run", DEMO_TASK, *quiet_flags], tmp_path)
    assert code == 0, terminal
    [trace] = (tmp_path / "runs").glob("*/trace.jsonl")
    finished = read_trace(trace)[-1]
    assert isinstance(finished, RunFinished) and finished.answer
    assert answer == finished.answer + "\n"  # stdout holds the answer and nothing else
    assert "model use" in terminal and "╭" in terminal and "\x1b[" in terminal
    assert "model use" not in answer and "╭" not in answer
    assert quiet_code == 0 and "model use" not in quiet and "→ Coder" not in quiet


def test_a_pipe_gets_the_plain_lines(tmp_path: Path) -> None:
    with ScriptedLLMServer(demo_script) as server:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "magentic.cli",
                "run",
                DEMO_TASK,
                "--base-url",
                server.base_url,
                "--agents",
                "Coder",
                "--trace-dir",
                str(tmp_path / "runs"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert "→ Coder" in done.stderr and "model use" not in done.stderr and "╭" not in done.stderr


def test_events_only_queue_their_lines_and_the_drawer_prints_them_in_order() -> None:
    """Handling an event draws nothing (a full redraw per event was the console's cost);
    the drawing turn prints every queued line, in order, and the final state."""
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    rounds = [Delegated(round=n, agent="Coder", instruction=f"step {n}") for n in range(1, 301)]
    with LiveConsole(console, refresh_per_second=0.001) as live:  # no drawing turn in time
        drawn = len(out.getvalue())
        for event in rounds:
            live(event)
        assert len(out.getvalue()) == drawn  # 300 events, not one redraw
    shown = out.getvalue()
    positions = [shown.index(f"step {n}\n") for n in range(1, 301)]
    assert positions == sorted(positions) and "round 300" in shown
