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

from magentic.agents.web_surfer.locate import find_chromium
from magentic.bench.runner import BenchOptions, run_bench
from magentic.bench.suites import load_suite
from magentic.bench.team import TeamRunner
from magentic.config import load_config
from magentic.errors import BrowserError
from magentic.events import AgentActed
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.trace.writer import read_trace
from tests.conftest import require
from tests.execution.conftest import require_docker

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "suites" / "local"
WEB_TASK = "web-station-elevation"
FILE_TASK, CODE_TASK = "file-minutes-treasurer", "code-transactions-total"
URL = re.compile(r"https?://127\.0\.0\.1:\d+/\S+\.html")


def have_chromium() -> bool:
    try:
        find_chromium(None)
    except BrowserError:
        return False
    return True


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


def web_surfer(request: ChatRequest) -> Reply:
    shown = request.last_user_text()
    asked = re.search(r"Your instruction: (.*)", shown)
    url = URL.search(asked.group(1) if asked else "")
    if url and f"URL: {url.group(0)}" not in shown:
        return Reply.tool_call("visit_url", {"url": url.group(0)})
    station = re.search(r"the (.+?) row", asked.group(1) if asked else "")
    name = station.group(1) if station else ""
    lines = shown.splitlines()
    header = next((ln for ln in lines if "Elevation" in ln), "")
    row = next((ln for ln in lines if name and ln.startswith(name)), "")
    return Reply.text(f"On {url.group(0) if url else 'the page'}:\nHeader: {header}\nRow: {row}")


def elevation_from(report: str, name: str) -> str:
    """Read the Elevation column of a station's row, as a model reading a table would."""
    header = re.search(r"Header: (.*)", report)
    row = re.search(r"Row: (.*)", report)
    if not header or not row or not row.group(1).startswith(name):
        return "unknown"
    columns = re.findall(r"[A-Z][a-z]*(?: \(\w+\))?", header.group(1))[1:]  # after "Station"
    values = row.group(1)[len(name) :].split()
    index = next((i for i, c in enumerate(columns) if c.startswith("Elevation")), None)
    return values[index] if index is not None and index < len(values) else "unknown"


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
    station = re.search(r"of the (.+?) weather station", task)
    name = station.group(1) if station else ""
    if step == "facts":
        return roles.facts(to_look_up=["the answer"])
    if step == "plan":
        return roles.plan(("FileSurfer" if kind == "file" else "Coder", "find it"))
    if step == "progress":
        if kind == "web":
            if "Row: " + name in (roles.last_from(request, "WebSurfer") or ""):
                return roles.progress(satisfied=True)
            url = URL.search(task)
            return roles.progress(
                "WebSurfer", f"Open {url.group(0) if url else ''} and report the {name} row."
            )
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
        if kind == "web":
            report = roles.last_from(request, "WebSurfer") or ""
            return Reply.text(f"FINAL ANSWER: {elevation_from(report, name)}")
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
    if "You are the WebSurfer" in system_text:
        return web_surfer(request)
    if roles.phase(request) == "coder":
        return coder(request)
    return orchestrator(request)


@pytest.mark.docker
@pytest.mark.browser
@pytest.mark.timeout(600)
async def test_bench_runs_web_file_and_code_tasks_through_the_real_team(tmp_path: Path) -> None:
    require_docker()
    require(have_chromium(), "Chromium (scripts/install --browser)")
    out = tmp_path / "out"
    with ScriptedLLMServer(script) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "agents": ["WebSurfer", "FileSurfer", "Coder", "ComputerTerminal"],
            },
            environ={},
        )
        tasks = [WEB_TASK, FILE_TASK, CODE_TASK]
        options = BenchOptions(suite=SUITE, tasks=tasks, concurrency=3, out=out)
        async with TeamRunner(config) as run_one:
            run = await run_bench(load_suite(SUITE), options, run_one)
    assert run.planned == 3
    check_results(out)


def check_results(out: Path) -> None:
    lines = (out / "results.jsonl").read_text().splitlines()
    results = {r["task_id"]: r for r in map(json.loads, lines)}
    for task_id in (WEB_TASK, FILE_TASK, CODE_TASK):
        assert results[task_id]["correct"] is True, results[task_id]
        assert (out / results[task_id]["trace_path"]).is_file()

    def acted(task_id: str) -> set[tuple[str, str]]:
        events = read_trace(out / results[task_id]["trace_path"])
        return {(e.agent, e.action) for e in events if isinstance(e, AgentActed)}

    assert any(agent == "ComputerTerminal" for agent, _ in acted(CODE_TASK))
    assert ("WebSurfer", "visit_url") in acted(WEB_TASK)
    assert ("FileSurfer", "find_on_page") in acted(FILE_TASK)
