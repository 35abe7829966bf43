"""`magentic run` with a WebSurfer whose browser dies under it, then a budget stop: the run
ends with its reason and nothing on stderr looks like a crash (no asyncio tracebacks, no
"Future exception was never retrieved") (issue 8)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from tests.conftest import require
from tests.web.procs import cmdline, descendants

pytestmark = pytest.mark.browser

CRASH_WORDS = ("Traceback", "Future exception", "Task exception", "never retrieved", "Exception")


def chromium_processes(root: int, kind: str) -> list[int]:
    """The run's Chromium renderers ("renderer") or its browser process ("browser")."""
    found = []
    for pid in descendants(root):
        line = cmdline(pid)
        if "chromium" not in line:
            continue
        if kind == "renderer" and "--type=renderer" in line and "webui" not in line:
            found.append(pid)
        if kind == "browser" and "--type=" not in line and "setpriv" not in line:
            found.append(pid)
    return found


class Script:
    """Orchestrator: send the WebSurfer to a page, again and again. WebSurfer: open the page;
    on its second turn the browser (or its renderer) is killed first, then it scrolls."""

    def __init__(self, site: str, kill: str) -> None:
        self.site, self.kill = site, kill
        self.run_pid = 0
        self.surfer_turns = 0
        self.killed: list[int] = []

    def __call__(self, request: ChatRequest) -> Reply:
        if "You are the WebSurfer" in request.system_text():
            self.surfer_turns += 1
            if self.surfer_turns == 1:
                return Reply.tool_call("visit_url", {"url": f"{self.site}/articles/alpha.html"})
            if self.surfer_turns == 2 and self.kill == "time":  # stopped in a hung page
                return Reply.tool_call("visit_url", {"url": f"{self.site}/hostile-loop.html"})
            if self.surfer_turns == 2:
                for pid in chromium_processes(self.run_pid, self.kill):
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
            return Reply.tool_call("scroll", {"direction": "down"})
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("WebSurfer", "open the page"))
        if step == "progress":
            return roles.progress("WebSurfer", "Open the Alpha Peak page and read it.")
        return Reply.text("Alpha Peak is 4,321 metres high.")


@pytest.mark.parametrize("kill", ["renderer", "browser", "time"])
def test_a_browser_crash_then_a_budget_stop_ends_quietly(
    kill: str, site: str, site_host: str, has_chromium: bool, tmp_path: Path
) -> None:
    require(has_chromium, "Chromium (scripts/install --browser)")
    config = tmp_path / "magentic.toml"
    config.write_text(
        "[web]\n"
        f'search_url = "{site}/search?q={{query}}"\n'
        "[web.url_policy]\n"
        f'allow = ["{site_host}"]\n'
    )
    script = Script(site, kill)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    with ScriptedLLMServer(script) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "magentic.cli",
                "run",
                "Find how high Alpha Peak is.",
                "--config",
                str(config),
                "--base-url",
                server.base_url,
                "--agents",
                "WebSurfer",
                "--text-only",
                *(["--max-seconds", "6"] if kill == "time" else ["--max-rounds", "4"]),
                "--trace-dir",
                str(tmp_path / "runs"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        script.run_pid = process.pid
        out, err = process.communicate(timeout=180)
    for word in CRASH_WORDS:
        assert word not in err, err
    if kill == "time":
        assert process.returncode == 1 and "out_of_budget" in err, err
    else:
        assert script.killed, f"no Chromium {kill} was found to kill"
        assert script.surfer_turns >= 3  # the WebSurfer went on after the crash
        assert process.returncode == 1 and "out_of_budget: reached the limit of 4 rounds" in err
    trace = next((tmp_path / "runs").glob("*/trace.jsonl"))
    last = json.loads(trace.read_text().splitlines()[-1])
    assert last["kind"] == "run_finished"
    assert out.strip()
