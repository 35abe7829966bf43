"""`magentic trace export RUN_DIR --format atif` and `bench --export atif`: real runs of the
CLI against the scripted model, their trajectories checked against the ATIF schema.

The schema (`atif.schema.json`) is generated from the pydantic models the Harbor project
publishes for ATIF (package `harbor` 0.26.0, `harbor.models.trajectories`; descriptions
left out). That package needs Python 3.12 and brings some thirty dependencies, so it is not a
dev extra; the rules its models check in code rather than in the schema are in `atif_rules`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from tests.test_cli import _answer_at_once, magentic

SCHEMA = json.loads((Path(__file__).parent / "atif.schema.json").read_text())
SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "suites" / "local"
pytestmark = pytest.mark.slow  # whole-CLI runs

_AGENT_ONLY = ("model_name", "reasoning_effort", "reasoning_content", "tool_calls", "metrics")


def atif_rules(trajectory: dict[str, Any]) -> None:
    """What ATIF's models check beyond the schema: steps numbered 1, 2, ...; agent-only fields
    on agent steps only; no metrics on a step that made no model call; observations that
    name their step's tool calls; embedded trajectories with unique ids (and valid too)."""
    for index, step in enumerate(trajectory["steps"], 1):
        assert step["step_id"] == index
        if step["source"] != "agent":
            assert not any(step.get(k) is not None for k in _AGENT_ONLY), step
        if step.get("llm_call_count") == 0 and step["source"] == "agent":
            assert step.get("metrics") is None and step.get("reasoning_content") is None
        calls = {c["tool_call_id"] for c in step.get("tool_calls") or []}
        for result in (step.get("observation") or {}).get("results", []):
            assert result.get("source_call_id") in calls | {None}, step
    embedded = trajectory.get("subagent_trajectories") or []
    ids = [sub["trajectory_id"] for sub in embedded]
    assert None not in ids and len(set(ids)) == len(ids)
    for sub in embedded:
        atif_rules(sub)


def validate(trajectory: dict[str, Any]) -> None:
    jsonschema.validate(trajectory, SCHEMA)
    atif_rules(trajectory)


def run_demo(tmp_path: Path, server: ScriptedLLMServer) -> Path:
    done = magentic(
        "run", DEMO_TASK, "--base-url", server.base_url, "--agents", "Coder,ComputerTerminal",
        "--sandbox", "local", "--yes", "--trace-dir", "runs", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["trace_path"]).parent


def test_a_run_exports_as_a_valid_faithful_atif_trajectory(tmp_path: Path) -> None:
    with ScriptedLLMServer(demo_script) as server:
        run = tmp_path / run_demo(tmp_path, server)
    done = magentic("trace", "export", str(run), "--format", "atif", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == run / "trajectory.atif.json"
    trajectory = json.loads(path.read_text())
    validate(trajectory)

    events = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    calls = [e for e in events if e["kind"] == "model_called"]
    finished = events[-1]
    steps = trajectory["steps"]
    assert trajectory["session_id"] == finished["run_id"]
    assert steps[0] == {**steps[0], "source": "user", "message": DEMO_TASK}
    assert steps[-1]["source"] == "agent" and steps[-1]["message"] == finished["answer"]
    # every model call is counted once, at the top or in the agent it served
    totals = trajectory["final_metrics"]
    assert totals["total_prompt_tokens"] == sum(c["prompt_tokens"] for c in calls)
    assert totals["total_prompt_tokens"] == finished["prompt_tokens"]
    assert totals["total_completion_tokens"] == finished["completion_tokens"]
    assert totals["total_cost_usd"] == pytest.approx(finished["cost"])
    assert totals["extra"]["status"] == "answered" and totals["extra"]["rounds"] == 3
    step_calls = [s.get("llm_call_count", 0) for s in steps]
    subs = {s["agent"]["name"]: s for s in trajectory["subagent_trajectories"]}
    sub_calls = [st.get("llm_call_count", 0) for s in subs.values() for st in s["steps"]]
    assert sum(step_calls) + sum(sub_calls) == len(calls)
    # a delegation: the round's tool call, answered by the agent's reply and trajectory
    delegations = [s for s in steps if s.get("tool_calls")]
    assert [s["tool_calls"][0]["function_name"] for s in delegations] == [
        "Coder",
        "ComputerTerminal",
    ]
    terminal_step = delegations[1]
    result = terminal_step["observation"]["results"][0]
    assert "RESULT: 65796" in result["content"]
    ref = result["subagent_trajectory_ref"][0]["trajectory_id"]
    terminal = subs["ComputerTerminal"]
    assert terminal["trajectory_id"] == ref
    assert (
        terminal["steps"][0]["message"]
        == terminal_step["tool_calls"][0]["arguments"]["instruction"]
    )
    ran = next(s for s in terminal["steps"] if s.get("tool_calls"))
    assert ran["tool_calls"][0]["function_name"] == "run_code"
    assert ran["llm_call_count"] == 0 and "metrics" not in ran  # the terminal asks no model
    assert "RESULT: 65796" in ran["observation"]["results"][0]["content"]
    decided = [s for s in terminal["steps"] if s["message"].startswith("allow by policy")]
    assert decided and decided[0]["source"] == "system"  # --yes, not a person
    coder = subs["Coder"]
    assert coder["final_metrics"]["total_prompt_tokens"] == sum(
        c["prompt_tokens"] for c in calls if c["role"] == "coder"
    )


def test_the_schema_refuses_what_atif_does_not_allow(tmp_path: Path) -> None:
    with ScriptedLLMServer(demo_script) as server:
        run = tmp_path / run_demo(tmp_path, server)
    assert magentic("trace", "export", str(run), "--out", "t.json", cwd=tmp_path).returncode == 0
    good = json.loads((tmp_path / "t.json").read_text())
    validate(good)
    for broken in (
        {**good, "steps": []},
        {**good, "steps": [{**good["steps"][0], "source": "tool"}]},
        {**good, "steps": [{**good["steps"][0], "thought": "x"}]},
        {**good, "agent": {"name": "magentic"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)
    user_with_metrics = {**good, "steps": [{**good["steps"][0], "metrics": {}}]}
    with pytest.raises(AssertionError):
        validate(user_with_metrics)


def test_export_of_a_folder_without_a_trace_is_one_line_exit_2(tmp_path: Path) -> None:
    done = magentic("trace", "export", str(tmp_path), "--format", "atif", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no trace" in done.stderr
    bad = magentic("trace", "export", str(tmp_path), "--format", "json", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_bench_writes_one_trajectory_per_task_and_repeat(tmp_path: Path) -> None:
    with ScriptedLLMServer(_answer_at_once) as server:
        done = magentic(
            "bench", str(SUITE), "--limit", "2", "--repeat", "2", "--agents", "Coder",
            "--base-url", server.base_url, "--model", "scripted", "--out", "out",
            "--export", "atif", "--json", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [
        json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    ]
    files = sorted((tmp_path / "out" / "atif").glob("*.json"))
    assert len(rows) == len(files) == 4
    for row in rows:
        trajectory = json.loads(
            (tmp_path / "out" / "atif" / f"{row['task_id']}.{row['repeat']}.json").read_text()
        )
        validate(trajectory)
        assert trajectory["steps"][0]["message"].startswith(row["question"][:40])
        assert trajectory["final_metrics"]["total_prompt_tokens"] == row["prompt_tokens"]


def _events() -> list[Any]:
    """A run with what the demo lacks: a screenshot, a failed and a trimmed call, a person's
    guidance, a pause, a stall and a replan, a resume; cut short mid-delegation (killed)."""
    from magentic import events as ev

    t = 1_800_000_000.0
    called = {"model": "m", "prompt_tokens": 10, "completion_tokens": 2, "cost": 0.001}
    seq = [
        ev.RunStarted(task="Find it.", files=["runs/x/workspace/a.pdf"], agents=["WebSurfer"],
                      config={"models": {"orchestrator": {"model": "big"}}}),
        ev.ModelCalled(role="orchestrator", **called),
        ev.LedgerUpdated(replan=0, facts="none", plan="1. WebSurfer: look"),
        ev.ModelCallFailed(role="orchestrator", model="m", attempt=1, reason="500", next="retry"),
        ev.ModelCalled(role="orchestrator", **called),
        ev.ProgressAssessed(round=1, ledger={"is_request_satisfied": {"answer": False, "reason": "r"},
                                             "next_speaker": {"answer": "WebSurfer", "reason": "r"},
                                             "instruction_or_question": {"answer": "Look.", "reason": "r"}},
                            stall_count=0),
        ev.Delegated(round=1, agent="WebSurfer", instruction="Look."),
        ev.ContextTrimmed(role="web_surfer", context_tokens=8000, tokens_before=9000, tokens_after=7000),
        ev.ModelCalled(role="web_surfer", **called),
        ev.AgentActed(agent="WebSurfer", action="visit_url", args={"url": "http://a.test/"},
                      result="Title: A", attachment_paths=["attachments/5-shot.png"]),
        ev.AgentActed(agent="WebSurfer", action="click", args={"id": 3}, result="",
                      error="no such element"),
        ev.AgentReplied(round=1, agent="WebSurfer", text="Nothing there."),
        ev.Stalled(round=1, stall_count=1, reason="no progress"),
        ev.ControlReceived(command={"kind": "guide", "text": "try the archive"}, face="console"),
        ev.Paused(where="between rounds"),
        ev.Unpaused(seconds=3.5),
        ev.Replanned(replan=1, reason="stalled"),
        ev.RunResumed(round=1, previous_status="running"),
        ev.ModelCalled(role="orchestrator", **called),
        ev.ProgressAssessed(round=2, ledger={"next_speaker": {"answer": "WebSurfer", "reason": "r"},
                                             "instruction_or_question": {"answer": "Archive.", "reason": "r"}},
                            stall_count=1),
        ev.Delegated(round=2, agent="WebSurfer", instruction="Archive."),
        ev.ModelCalled(role="web_surfer", **called),
    ]  # fmt: skip
    for number, event in enumerate(seq, 1):
        event.seq, event.t, event.run_id = number, t + number, "r1"
    return seq


def test_screenshots_people_failures_and_a_cut_trace_map_faithfully() -> None:
    from magentic.trace.atif import to_atif

    trajectory = to_atif(_events(), media=lambda p: f"/runs/r1/{p}")
    validate(trajectory)
    steps = trajectory["steps"]
    assert steps[0]["message"] == "Find it.\n\nAttached files: runs/x/workspace/a.pdf"
    assert trajectory["agent"]["model_name"] == "big"
    ledger_step, round_one = steps[1], steps[2]
    assert ledger_step["llm_call_count"] == 1 and ledger_step["metrics"]["prompt_tokens"] == 10
    assert round_one["extra"]["model_events"][0]["kind"] == "model_call_failed"
    assert round_one["observation"]["results"][0]["content"] == "Nothing there."
    people = [s for s in steps if s["source"] == "user"][1:]
    assert [s["message"] for s in people] == ["(guide) try the archive"]
    system = [s["message"] for s in steps if s["source"] == "system"]
    assert system[:2] == ["Stalled (1): no progress", "Paused between rounds"]
    assert "Replanning (1): stalled" in system and any(m.startswith("Resumed from") for m in system)
    first, second = trajectory["subagent_trajectories"]
    visit, click = first["steps"][1], first["steps"][2]
    assert visit["extra"]["model_events"][0]["kind"] == "context_trimmed"
    content = visit["observation"]["results"][0]["content"]
    assert content[0] == {"type": "text", "text": "Title: A"}
    assert content[1]["source"] == {
        "media_type": "image/png",
        "path": "/runs/r1/attachments/5-shot.png",
    }
    assert click["llm_call_count"] == 0 and click["extra"]["error"] == "no such element"
    assert click["observation"]["results"][0]["content"].startswith("error: no such element")
    # killed mid-delegation: the call made is still counted, the reply said to be missing
    assert second["steps"][-1]["message"] == "(model calls with no recorded outcome)"
    assert steps[-1]["observation"]["results"][0]["content"].startswith("(no reply")
    assert trajectory["final_metrics"]["total_prompt_tokens"] == 10 * 5
