"""TeamRunner, the seam between the runner and the real team: one real `run_task` per task.

The orchestrator and the Coder talk to ScriptedLLMServer through the real client. The point
here is the wiring (question, attached file, run folder, trace, usage and the answer format
reaching the final-answer prompt), not solving: the scripted team answers "unknown".
"""

from __future__ import annotations

import json
from pathlib import Path

from magentic.bench.results import ResultStore
from magentic.bench.runner import BenchOptions, run_bench
from magentic.bench.suites import load_suite
from magentic.bench.taxonomy import classify_all
from magentic.bench.team import ANSWER_FORMAT, TeamRunner
from magentic.config import Config, SandboxConfig
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.trace.writer import read_trace

from .solvers import LOCAL_SUITE


def script(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step == "coder":
        return Reply.text("I would read the attached file with a short program.")
    if step in ("facts", "replan_facts"):
        return roles.facts(to_look_up=["what the attached file says"])
    if step in ("plan", "replan_plan"):
        return roles.plan(("Coder", "Suggest how to read the file."))
    if step == "progress":
        if roles.last_from(request, "Coder") is None:
            return roles.progress("Coder", "Suggest how to read the attached file.")
        return roles.progress(satisfied=True, reason="the Coder answered")
    if step == "final":
        return Reply.text("Nothing was read.\nFINAL ANSWER: unknown")
    return Reply.text("unexpected request")


async def test_team_runner_runs_the_real_team_per_task(tmp_path: Path) -> None:
    suite = load_suite(LOCAL_SUITE)
    out = tmp_path / "out"
    async with ScriptedLLMServer(script) as server:
        config = Config(
            models={"default": {"model": "scripted", "base_url": server.base_url, "api_key": "t"}},
            agents=["Coder"],
            trace_dir=tmp_path / "unused",
        )
        async with TeamRunner(config) as run_one:
            options = BenchOptions(
                suite=LOCAL_SUITE,
                out=out,
                tasks=["file-minutes-treasurer", "web-station-elevation"],
            )
            await run_bench(suite, options, run_one)
        finals = [r for r in server.requests if roles.phase(r) == "final"]
    results = {r.task_id: r for r in ResultStore(out).load()}
    assert set(results) == {"file-minutes-treasurer", "web-station-elevation"}
    pdf_run = results["file-minutes-treasurer"]
    assert (pdf_run.status, pdf_run.answer, pdf_run.correct) == ("answered", "unknown", False)
    assert pdf_run.rounds >= 1 and pdf_run.prompt_tokens > 0 and pdf_run.completion_tokens > 0
    workdir = out / "tasks" / "file-minutes-treasurer" / "r0"
    copied = workdir / "workspace" / "council-minutes.pdf"
    assert copied.read_bytes() == (LOCAL_SUITE / "council-minutes.pdf").read_bytes()
    assert pdf_run.trace_path is not None and (out / pdf_run.trace_path).is_file()
    assert (out / pdf_run.trace_path).is_relative_to(workdir)
    first_event = json.loads((out / pdf_run.trace_path).read_text().splitlines()[0])
    assert "Riverton Town Council" in first_event["task"]
    # the GAIA answer format reaches the final-answer prompt of every task
    assert len(finals) == 2
    assert all(" ".join(ANSWER_FORMAT.split()[:8]) in f.all_text() for f in finals)
    web_question = results["web-station-elevation"].question
    assert web_question.startswith("Open http://127.0.0.1:")


def coding_script(request: ChatRequest) -> Reply:
    """The Coder writes a program; the orchestrator has the terminal run it, then finishes."""
    step = roles.phase(request)
    if step == "coder":
        return Reply.text("```python\nopen('proof.txt', 'w').write('ran')\n```")
    if step in ("facts", "replan_facts"):
        return roles.facts(to_derive=["the count"])
    if step in ("plan", "replan_plan"):
        return roles.plan(("Coder", "Write the program."), ("ComputerTerminal", "Run it."))
    if step == "progress":
        if roles.last_from(request, "Coder") is None:
            return roles.progress("Coder", "Write a program that counts.")
        if roles.last_from(request, "ComputerTerminal") is None:
            return roles.progress("ComputerTerminal", "Run the Coder's program.")
        return roles.progress(satisfied=True, reason="the terminal answered")
    if step == "final":
        return Reply.text("The code could not run.\nFINAL ANSWER: unknown")
    return Reply.text("unexpected request")


async def test_a_bench_is_unattended_and_its_report_names_the_approval_denial(
    tmp_path: Path,
) -> None:
    """No face is attached to a bench task: the terminal's `local_code` ask is a no, the code
    never runs, and the failure taxonomy says so."""
    suite = load_suite(LOCAL_SUITE)
    out = tmp_path / "out"
    async with ScriptedLLMServer(coding_script) as server:
        config = Config(
            models={"default": {"model": "scripted", "base_url": server.base_url, "api_key": "t"}},
            agents=["Coder", "ComputerTerminal"],
            sandbox=SandboxConfig(kind="local"),
            trace_dir=tmp_path / "unused",
        )
        async with TeamRunner(config) as run_one:
            options = BenchOptions(suite=LOCAL_SUITE, out=out, tasks=["file-minutes-treasurer"])
            await run_bench(suite, options, run_one)
    workdir = out / "tasks" / "file-minutes-treasurer" / "r0"
    assert not list(workdir.rglob("proof.txt"))  # the code did not run
    [(result, failure)] = classify_all(out, ResultStore(out).load())
    assert str(failure) == "denied by approval (local_code)"
    decided = [e for e in read_trace(out / str(result.trace_path)) if e.kind == "control_decided"]
    assert [(e.decision, e.by) for e in decided] == [("deny", "nobody")]  # type: ignore[attr-defined]
