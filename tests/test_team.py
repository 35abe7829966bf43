"""run_task end to end: the real team assembled from config reads a real attached file."""

from __future__ import annotations

import random
import re
from pathlib import Path

from magentic.config import load_config
from magentic.team import run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.trace.writer import read_trace


def script(request: ChatRequest) -> Reply:
    if "You are the FileSurfer" in request.system_text():
        shown = request.last_user_text()
        if "(nothing open yet)" in shown:
            return Reply.tool_call("open_path", {"path": "inventory.csv"})
        line = next((ln for ln in shown.splitlines() if "widgets" in ln), "not found")
        return Reply.text(f"The inventory row reads: {line}")
    step = roles.phase(request)
    if step == "facts":
        return roles.facts(to_look_up=["the widget count, in inventory.csv"])
    if step == "plan":
        return roles.plan(("FileSurfer", "read inventory.csv"))
    if step == "progress":
        if roles.last_from(request, "FileSurfer"):
            return roles.progress(satisfied=True)
        return roles.progress("FileSurfer", "Open inventory.csv and report the widgets row.")
    if step == "final":
        read = roles.last_from(request, "FileSurfer") or ""
        numbers = re.findall(r"\d+", read.split("widgets", 1)[-1])
        return Reply.text(f"FINAL ANSWER: {numbers[0] if numbers else 'unknown'}")
    return Reply.text("?")


async def test_run_task_reads_an_attached_file(tmp_path: Path) -> None:
    count = random.randint(100, 999)
    attached = tmp_path / "inventory.csv"
    attached.write_text(f"item,count\nbolts,12\nwidgets,{count}\nnuts,7\n")
    with ScriptedLLMServer(script) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "agents": ["FileSurfer", "Coder"],
                "trace_dir": tmp_path / "runs",
            },
            environ={},
        )
        result = await run_task("How many widgets are in stock?", config, files=[attached])
    assert result.status == "answered", result.stop_reason
    assert result.answer == f"FINAL ANSWER: {count}"
    assert result.trace_path is not None
    events = read_trace(Path(result.trace_path))
    acted = [e for e in events if e.kind == "agent_acted"]
    assert any(getattr(e, "action", "") == "open_path" for e in acted)
    assert events[0].kind == "run_started" and events[-1].kind == "run_finished"
    assert (Path(result.trace_path).parent / "workspace" / "inventory.csv").is_file()
