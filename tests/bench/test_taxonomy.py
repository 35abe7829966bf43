"""The failure taxonomy from real trace files (written by the real TraceWriter) of runs driven
by the real runner, and the section it adds to report.md."""

from __future__ import annotations

from pathlib import Path

from magentic.bench.results import ResultStore, TaskResult
from magentic.bench.runner import BenchOptions, TaskOutcome, bench_main
from magentic.bench.suite import BenchTask
from magentic.bench.suites import load_suite
from magentic.bench.taxonomy import classify_all, truth_seen
from magentic.events import (
    AgentActed,
    AgentReplied,
    Event,
    LedgerUpdated,
    ModelCallFailed,
    RunFailed,
    RunFinished,
)
from magentic.trace.writer import TraceWriter

from .solvers import LOCAL_SUITE

SUITE = load_suite(LOCAL_SUITE)
IDS = [t.task_id for t in SUITE.tasks[:7]]


def write_trace(workdir: Path, events: list[Event]) -> Path:
    writer = TraceWriter(workdir)
    for seq, event in enumerate(events, start=1):
        event.seq = seq
        writer(event)
    writer.close()
    return writer.path


async def scenario(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
    """Each of seven tasks fails in its own way, as a team run would leave it in the trace."""
    kind = IDS.index(task.task_id)
    events: list[Event] = []
    outcome = TaskOutcome(answer="FINAL ANSWER: definitely-wrong-xyz")
    if kind == 0:  # a trace from before `budget`: read by the stop reason's words
        outcome = TaskOutcome(
            answer="", status="out_of_budget", stop_reason="reached the limit of 3 rounds"
        )
    elif kind == 1:  # the run names its budget: the stop reason's words do not matter
        reason = "no way forward after two fresh plans"
        events = [RunFinished(status="out_of_budget", stop_reason=reason, budget="replans")]
        outcome = TaskOutcome(answer="", status="out_of_budget", stop_reason=reason)
    elif kind == 2:
        events = [
            ModelCallFailed(role="orchestrator", model="m", attempt=5, reason="HTTP 503"),
            RunFailed(reason="model endpoint failed", error_type="ModelError"),
        ]
        outcome = TaskOutcome(answer="", status="failed", stop_reason="model endpoint failed")
    elif kind == 3:
        events = [
            AgentActed(agent="WebSurfer", action="click", error="the page crashed"),
            AgentActed(agent="Coder", action="run", error="exit 1"),
            AgentActed(agent="WebSurfer", action="visit", error="the page crashed"),
            RunFailed(reason="internal error", error_type="BrowserError"),
        ]
        outcome = TaskOutcome(answer="", status="failed", stop_reason="internal error")
    elif kind == 4:  # the team read the right answer, then answered something else
        events = [
            LedgerUpdated(replan=0, facts="nothing yet", plan="look"),
            AgentReplied(round=1, agent="FileSurfer", text=f"The file says: {task.truth}."),
        ]
    elif kind == 5:
        events = [AgentReplied(round=1, agent="WebSurfer", text="Nothing useful on this page.")]
    else:
        raise RuntimeError("the bench runner caught this")
    outcome.trace_path = write_trace(workdir, events)
    return outcome


async def test_each_failure_gets_its_class_in_report_md(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = await bench_main(BenchOptions(suite=LOCAL_SUITE, out=out, tasks=IDS), scenario)
    assert code == 1  # one task crashed
    results = {r.task_id: r for r in ResultStore(out).load()}
    classes = {r.task_id: str(f) for r, f in classify_all(out, list(results.values()))}
    assert classes == {
        IDS[0]: "out of budget (rounds)",
        IDS[1]: "stalled",
        IDS[2]: "model endpoint (HTTP 503)",
        IDS[3]: "agent error (WebSurfer)",
        IDS[4]: "wrong, right answer seen",
        IDS[5]: "answer never seen",
        IDS[6]: "crashed (RuntimeError: the bench runner caught this)",
    }
    report = (out / "report.md").read_text()
    assert "## Why tasks were not right" in report
    assert f"| agent error (WebSurfer) | 1 | {IDS[3]} r0 |" in report
    assert f"| wrong, right answer seen | 1 | {IDS[4]} r0 |" in report
    # classes come in a fixed order: budget first, never-seen after seen
    assert report.index("out of budget (rounds)") < report.index("answer never seen")


async def test_right_answers_are_not_classified(tmp_path: Path) -> None:
    async def right(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        return TaskOutcome(answer=f"FINAL ANSWER: {task.truth}")

    out = tmp_path / "out"
    await bench_main(BenchOptions(suite=LOCAL_SUITE, out=out, tasks=IDS[:2]), right)
    assert classify_all(out, ResultStore(out).load()) == []
    assert "## Why tasks were not right" not in (out / "report.md").read_text()


def test_truth_seen_matches_whole_numbers_and_loose_strings() -> None:
    def said(text: str) -> list[Event]:
        return [AgentReplied(round=1, agent="Coder", text=text)]

    assert not truth_seen("17", said("the total is 170 km"))
    assert not truth_seen("17", said("version 2.17 of it"))
    assert truth_seen("17", said("it is 17."))
    assert truth_seen("1234", said("a total of 1,234 items"))
    assert truth_seen("St. Paul", said("born in  st.   paul, MN"))
    assert not truth_seen("Ada", [])
    unscored = TaskResult(task_id="u", level=1, question="q", status="answered")
    assert classify_all(Path("."), [unscored]) == []  # answered and unscored: nothing to say
