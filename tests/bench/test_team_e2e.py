"""`magentic bench` end to end on three local-suite tasks, with the real team.

The scripted model plays every role the way a model would: it reads what each agent
observed and chooses the next action from it. The answers reach the final answer only
through the real browser, file reader or sandbox: the script never knows the truths.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from magentic.bench.runner import BenchOptions, run_bench
from magentic.bench.suite import load_suite
from magentic.bench.team import TeamRunner
from magentic.config import load_config
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from tests.execution.conftest import require_docker

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "suites" / "local"
FILE_TASK, CODE_TASK = "file-minutes-treasurer", "code-transactions-total"


def _flat(text: str) -> str:
    """One line, without Markdown emphasis (a viewer bolds the words it found)."""
    return " ".join(text.replace("*", "").split())


def file_surfer(request: ChatRequest) -> Reply:
    shown = request.last_user_text()
    if "(nothing open yet)" in shown:
        attached = re.search(r"Files attached to the task: ([^\n]+)", shown)
        path = attached.group(1).split(",")[0].strip() if attached else ""
        return Reply.tool_call("open_path", {"path": path})
    found = re.search(r"Found \d+ match.*?<- shown", request.all_text(), re.DOTALL)
    if found:
        return Reply.text(f"The minutes say: {_flat(found.group(0))}")
    wanted = re.search(r"who was elected (\w+)", request.all_text())
    return Reply.tool_call("find_on_page", {"query": wanted.group(1) if wanted else "elected"})


def coder(request: ChatRequest) -> Reply:
    asked = request.last_user_text()
    column = re.search(r"the (\w+) column", request.all_text())
    files = re.search(r"working folder: ([^)\n]+)", asked)
    name = files.group(1).split(",")[0].strip() if files else "data.csv"
    return Reply.text(
        "```python\nimport pandas as pd\n"
        f"frame = pd.read_csv({name!r})\n"
        f"print('TOTAL:', round(float(frame[{column.group(1) if column else 'amount'!r}].sum()), 2))\n```"
    )


def orchestrator(request: ChatRequest) -> Reply:
    task = request.all_text()
    kind = "file" if "attached PDF" in task else "code" if "attached CSV" in task else "web"
    step = roles.phase(request)
    if step == "facts":
        return roles.facts(to_look_up=["the answer"])
    if step == "plan":
        return roles.plan(("FileSurfer" if kind == "file" else "Coder", "find it"))
    if step == "progress":
        if kind == "file":
            read = roles.last_from(request, "FileSurfer") or ""
            if "elected" in read and "The minutes say" in read:
                return roles.progress(satisfied=True)
            return roles.progress(
                "FileSurfer", "Read the attached minutes: who was elected treasurer?"
            )
        ran = roles.last_from(request, "ComputerTerminal") or ""
        if "TOTAL:" in ran:
            return roles.progress(satisfied=True)
        if roles.last_from(request, "Coder") is None:
            return roles.progress("Coder", "Write code that sums the column the task names.")
        return roles.progress("ComputerTerminal", "Run the Coder's code.")
    if step == "final":
        if kind == "file":
            read = _flat(roles.last_from(request, "FileSurfer") or "")
            who = re.search(r"([A-Z][a-z]+ [A-Z][a-z]+) was elected treasurer", read)
            return Reply.text(f"FINAL ANSWER: {who.group(1) if who else 'unknown'}")
        total = re.search(r"TOTAL: ([\d.]+)", roles.last_from(request, "ComputerTerminal") or "")
        return Reply.text(f"FINAL ANSWER: {total.group(1) if total else 'unknown'}")
    return Reply.text("?")


def script(request: ChatRequest) -> Reply:
    system_text = request.system_text()
    if "You are the FileSurfer" in system_text:
        return file_surfer(request)
    if roles.phase(request) == "coder":
        return coder(request)
    return orchestrator(request)


@pytest.mark.timeout(600)
async def test_bench_runs_file_and_code_tasks_through_the_real_team(tmp_path: Path) -> None:
    require_docker()
    out = tmp_path / "out"
    with ScriptedLLMServer(script) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "agents": ["FileSurfer", "Coder", "ComputerTerminal"],
            },
            environ={},
        )
        options = BenchOptions(suite=SUITE, tasks=[FILE_TASK, CODE_TASK], concurrency=2, out=out)
        async with TeamRunner(config) as run_one:
            run = await run_bench(load_suite(SUITE), options, run_one)
    assert run.planned == 2
    check_results(out)


def check_results(out: Path) -> None:
    lines = (out / "results.jsonl").read_text().splitlines()
    results = {r["task_id"]: r for r in map(json.loads, lines)}
    for task_id in (FILE_TASK, CODE_TASK):
        assert results[task_id]["correct"] is True, results[task_id]
        assert (out / results[task_id]["trace_path"]).is_file()
    code_trace = (out / results[CODE_TASK]["trace_path"]).read_text()
    assert '"agent":"ComputerTerminal"' in code_trace.replace(" ", "")
    file_trace = (out / results[FILE_TASK]["trace_path"]).read_text()
    assert '"action":"find_on_page"' in file_trace.replace(" ", "")
