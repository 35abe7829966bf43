"""Time from `magentic resume RUN_DIR` to its first new model call, browser state included.

A scripted 20-round run (real CLI, real Chromium): in round 1 the WebSurfer opens a local
page that sets a session cookie; rounds 2-20 the Coder adds a note each, so the transcript
is that of a 20-round run. The round budget stops it. Then `magentic resume RUN_DIR
--max-rounds 21` is timed until the scripted endpoint gets its first request: reading and
checking the checkpoint and its config, building the team, launching Chromium and reopening
the tab with its cookie (the page server must have seen that reload, with the cookie,
before the model is asked anything), and the trace. Twice: in this process, with magentic
already imported (the resume's own work), and as a new `magentic resume` process, whose
Python start-up and imports (about 1.4 s of CPU: openai's types alone take a second) are
the same for every magentic command. Also: what the WebSurfer adds to each round's
checkpoint (its tabs and Playwright storage state), `websurfer_snapshot_ms_*`.

Both resumes go on from a side-effect journal with entries after the checkpoint, as a run
killed mid-round leaves it (`effects_recorded`, written through `EffectJournal` itself:
code runs with their reports and form POSTs with their responses' pages), so reading and
checking it is in the time measured. Resumes take their endpoint and URL policy from the
config and flags of today (`--config`, `--base-url`), as a person's resume does.

    .venv/bin/python benchmarks/resume_time.py
"""

from __future__ import annotations

import asyncio
import base64
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import emit, median

from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

ROUNDS = 20
EFFECTS = 200  # side effects journaled after the checkpoint (half code runs, half POSTs)
PAGES: list[tuple[float, str]] = []  # (time.monotonic(), Cookie header) of each page request
ASKED: list[float] = []  # time.monotonic() of each model request


class Page(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/account":
            self.send_error(404)
            return
        PAGES.append((time.monotonic(), self.headers.get("Cookie", "")))
        body = b"<html><head><title>Account</title></head><body>Signed in.</body></html>"
        self.send_response(200)
        self.send_header("Set-Cookie", "session=member-7; Path=/")
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def script_for(url: str):  # -> Script
    def script(request: ChatRequest) -> Reply:
        ASKED.append(time.monotonic())
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("WebSurfer", "open the account"), ("Coder", "write the notes"))
        if step == "progress":
            said = roles.said(request)
            if not any(who == "WebSurfer" for who, _ in said):
                return roles.progress("WebSurfer", "Open the account page.")
            notes = sum(1 for who, _ in said if who == "Coder")
            return roles.progress("Coder", f"Write note {notes + 1} of the account review.")
        if step == "coder":
            return Reply.text("Note: the account page lists the member's orders. " * 20)
        if step == "final":
            return Reply.text("The review is written.")
        if url in request.all_text():  # the WebSurfer, on the page
            return Reply.text("The account page is open.")
        return Reply.tool_call("visit_url", {"url": url})

    return script


def main() -> None:
    pages = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{pages.server_address[1]}"
    url = f"http://{host}/account"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    with tempfile.TemporaryDirectory() as tmp, ScriptedLLMServer(script_for(url)) as server:
        config = Path(tmp) / "magentic.toml"
        config.write_text(f'[web.url_policy]\nallow = ["{host}"]\n')
        first = subprocess.run(
            [sys.executable, "-m", "magentic.cli", "run", "Review the account.", "--config",
             str(config), "--base-url", server.base_url, "--model", "gpt-4o", "--agents",
             "WebSurfer,Coder", "--max-rounds", str(ROUNDS), "--trace-dir", f"{tmp}/runs",
             "--json", "--quiet"],
            env=env, capture_output=True, text=True, timeout=600, cwd=tmp,
        )  # fmt: skip
        outcome = json.loads(first.stdout)
        assert outcome["status"] == "out_of_budget", first.stderr
        run_dir = next(Path(tmp, "runs").iterdir())
        checkpoint_kb = (run_dir / "checkpoint.json").stat().st_size / 1024
        copy = Path(tmp) / "copy"
        shutil.copytree(run_dir, copy)
        effects_kb = asyncio.run(journal_effects(run_dir))
        asyncio.run(journal_effects(copy))

        # In this process (imports done): the resume's own work.
        in_process = asyncio.run(resume_here(run_dir, config, server.base_url))
        snapshot_ms = asyncio.run(browser_snapshot_ms(url, host))

        # A new `magentic resume` process: start-up and imports too.
        asked_before, pages_before = len(ASKED), len(PAGES)
        started = time.monotonic()
        resumed = subprocess.run(
            [sys.executable, "-m", "magentic.cli", "resume", str(copy), "--max-rounds",
             str(ROUNDS + 1), "--config", str(config), "--base-url", server.base_url,
             "--json", "--quiet"],
            env=env, capture_output=True, text=True, timeout=600, cwd=tmp,
        )  # fmt: skip
        assert json.loads(resumed.stdout)["rounds"] == ROUNDS + 1, resumed.stderr
        cli = reopened_and_asked(started, asked_before, pages_before)
    pages.shutdown()
    emit(
        {
            "bench": "resume_time",
            "rounds_before": outcome["rounds"],
            "checkpoint_kb": round(checkpoint_kb, 1),
            "effects_recorded": EFFECTS,
            "effects_journal_kb": round(effects_kb, 1),
            "seconds_to_first_model_call": in_process[1],
            "seconds_to_tab_reopened": in_process[0],
            "cli_seconds_to_first_model_call": cli[1],
            "cli_seconds_to_tab_reopened": cli[0],
            "cookie_restored_before_first_call": True,
            "websurfer_snapshot_ms_median": round(median(snapshot_ms), 3),
            "websurfer_snapshot_ms_max": round(max(snapshot_ms), 3),
            "measured": "from prepare_resume in a process with magentic imported; cli_*: "
            "from the start of a new `magentic resume` process (start-up and imports too)",
            "load_average_1m": os.getloadavg()[0],
            "target_s": 2.0,
        }
    )


async def journal_effects(run_dir: Path) -> float:
    """Journal EFFECTS side effects after the checkpoint, as the run's agents would have
    (the terminal's code runs, the WebSurfer's POSTs); the journal's size in KB."""
    from magentic.control.effects import FILE_NAME, EffectJournal, effect_key
    from magentic.events import EventBus

    journal = EffectJournal(run_dir / FILE_NAME, EventBus())
    page = base64.b64encode(b"<html><body>Order received. " + b"x" * 4000 + b"</body></html>")
    for n in range(EFFECTS):
        if n % 2:
            code = f"print({n})\n" * 20
            key = effect_key("ComputerTerminal", "run_code", [["python", code]])
            result = {"text": f"Ran 1 code block(s).\nexit code 0\n{n}\n" * 10, "files": []}
            kind, agent = "run_code", "ComputerTerminal"
        else:
            key = effect_key("WebSurfer", "submit_form", ["POST", f"http://shop/o/{n}", "h"])
            result = {"status": 200, "headers": [["Content-Type", "text/html"]],
                      "body": page.decode()}  # fmt: skip
            kind, agent = "submit_form", "WebSurfer"

        async def done(result: dict = result) -> dict:
            return result

        await journal.once(agent, kind, key, f"effect {n}", done)
    return journal.size / 1024


async def resume_here(run_dir: Path, config: Path, base_url: str) -> tuple[float, float]:
    for module in ("magentic.agents.coder", "magentic.agents.web_surfer.agent"):
        importlib.import_module(module)  # ahead, as a process that ran tasks has them
    from magentic.team import prepare_resume, resume_task

    asked_before, pages_before = len(ASKED), len(PAGES)
    started = time.monotonic()
    flags = {"orchestrator.budgets.max_rounds": ROUNDS + 1, "models.default.base_url": base_url}
    resumption = await asyncio.to_thread(
        functools.partial(prepare_resume, run_dir, flags, config_path=config)
    )
    result = await resume_task(resumption)
    assert result.rounds == ROUNDS + 1, result.stop_reason
    return reopened_and_asked(started, asked_before, pages_before)


async def browser_snapshot_ms(url: str, host: str) -> list[float]:
    """What the WebSurfer adds to each round's checkpoint: its tabs and storage state."""
    from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession
    from magentic.agents.web_surfer.settings import UrlPolicySettings, WebSurferSettings

    settings = WebSurferSettings(url_policy=UrlPolicySettings(allow=[host]))
    pool = BrowserPool(settings)
    with tempfile.TemporaryDirectory() as downloads:
        session = BrowserSession(pool, settings, downloads_dir=Path(downloads))
        try:
            await session.start([url])
            samples = []
            for _ in range(20):
                started = time.perf_counter()
                await session.state()
                samples.append((time.perf_counter() - started) * 1000)
            return samples
        finally:
            await session.close()
            await pool.close()


def reopened_and_asked(started: float, asked_before: int, pages_before: int) -> tuple[float, float]:
    """Seconds from `started` to the tab's reload (which must carry the cookie and come
    before the first model call) and to the first model call."""
    reopened = PAGES[pages_before:]
    if not (reopened and reopened[0][1] == "session=member-7"):
        sys.exit(f"the tab came back without its cookie: {reopened}")
    if reopened[0][0] > ASKED[asked_before]:
        sys.exit("the model was asked before the browser was back")
    return round(reopened[0][0] - started, 3), round(ASKED[asked_before] - started, 3)


if __name__ == "__main__":
    main()
