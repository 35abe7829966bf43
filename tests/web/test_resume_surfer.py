"""A resumed run's WebSurfer comes back where it was: the same tab, signed in.

A whole team run (real Chromium, a scripted model) signs in on a local page that sets a
session cookie and is stopped by its round budget; `resume_task` in a fresh team must reopen
that page with the cookie (the page's server sees it) before the model is asked anything,
and the surfer's next prompt shows the same URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from magentic.config import load_config
from magentic.team import prepare_resume, resume_task, run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from tests.conftest import require

pytestmark = [pytest.mark.browser]
# (path, Cookie header, model requests so far) of every page request
SEEN: list[tuple[str, str, int]] = []
MODEL: list[ScriptedLLMServer] = []


class _Pages(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/favicon.ico":
            self.send_error(404)
            return
        SEEN.append((self.path, self.headers.get("Cookie", ""), len(MODEL[0].requests)))
        body = b"<html><head><title>Signed in</title></head><body>Welcome back.</body></html>"
        self.send_response(200)
        if self.path == "/login":
            self.send_header("Set-Cookie", "session=member-42; Path=/; HttpOnly")
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def pages() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SEEN.clear()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def script_for(base: str):  # -> Script
    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("WebSurfer", "sign in, then say where the browser is"))
        if step == "progress":
            replies = [t for who, t in roles.said(request) if who == "WebSurfer"]
            if len(replies) >= 2:
                return roles.progress(satisfied=True)
            return roles.progress("WebSurfer", "Sign in, or say which page is open.")
        if step == "final":
            return Reply.text("Signed in.")
        text = request.all_text()  # the surfer's own prompt
        if f"{base}/login" in text:
            return Reply.text(f"The browser is at {base}/login.")
        return Reply.tool_call("visit_url", {"url": f"{base}/login"})

    return script


async def test_a_resumed_websurfer_is_on_the_same_page_with_its_cookies(
    pages: str, has_chromium: bool, tmp_path: Path
) -> None:
    require(has_chromium, "Chromium (scripts/install --browser)")
    base = f"http://{pages}"
    run_dir = tmp_path / "run"
    with ScriptedLLMServer(script_for(base)) as server:
        MODEL[:] = [server]
        overrides = {
            "models.default.base_url": server.base_url,
            "models.default.model": "gpt-4o",
            "agents": ["WebSurfer"],
            "web.url_policy.allow": [pages],
            "orchestrator.budgets.max_rounds": 1,
            "orchestrator.transcript_images": "last",
        }
        config = load_config(overrides=overrides, environ={})
        first = await run_task("Sign in on the site.", config, run_dir=run_dir)
        assert first.status == "out_of_budget", first.stop_reason
        assert [seen[:2] for seen in SEEN] == [("/login", "")]

        saved = json.loads((run_dir / "checkpoint.json").read_text())
        shots = [i["file"] for e in saved["transcript"] for i in e["images"]]
        assert shots and (run_dir / "checkpoint-images" / shots[-1]).is_file()  # not base64
        resumption = prepare_resume(run_dir, {"orchestrator.budgets.max_rounds": 5}, today=config)
        asked_before = len(server.requests)
        result = await resume_task(resumption)
    assert result.status == "answered", result.stop_reason
    # The tab was reopened, signed in, ahead of any new model call.
    assert SEEN[1] == ("/login", "session=member-42", asked_before)
    surfer_asks = [r for r in server.requests[asked_before:] if roles.phase(r) == "other"]
    assert surfer_asks and f"{base}/login" in surfer_asks[0].all_text()
    # The first question after the resume carries the screenshot of the restored conversation.
    first_progress = next(r for r in server.requests[asked_before:] if roles.phase(r) == "progress")
    assert first_progress.image_count() == 1


async def test_saved_tabs_the_url_policy_forbids_are_not_reopened(
    pages: str, has_chromium: bool, tmp_path: Path
) -> None:
    """A checkpoint is data: a `file://` tab or a blocked host saved in it is dropped, with
    a note in the trace, and only the allowed tab comes back."""
    require(has_chromium, "Chromium (scripts/install --browser)")
    base = f"http://{pages}"
    run_dir = tmp_path / "run"
    secret = tmp_path / "host-secret.txt"
    secret.write_text("a host file the folder wants the model to read")
    with ScriptedLLMServer(script_for(base)) as server:
        MODEL[:] = [server]
        overrides = {
            "models.default.base_url": server.base_url,
            "agents": ["WebSurfer"],
            "web.url_policy.allow": [pages],
            "orchestrator.budgets.max_rounds": 1,
        }
        config = load_config(overrides=overrides, environ={})
        first = await run_task("Sign in on the site.", config, run_dir=run_dir)
        assert first.status == "out_of_budget", first.stop_reason
        path = run_dir / "checkpoint.json"
        saved = json.loads(path.read_text())
        tabs = saved["agents"]["WebSurfer"]["tabs"]
        saved["agents"]["WebSurfer"]["tabs"] = [secret.as_uri(), "http://169.254.169.254/", *tabs]
        saved["agents"]["WebSurfer"]["active"] = 0
        path.write_text(json.dumps(saved))
        resumption = prepare_resume(run_dir, {"orchestrator.budgets.max_rounds": 5}, today=config)
        asked_before = len(server.requests)
        result = await resume_task(resumption)
    assert result.status == "answered", result.stop_reason
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    dropped = [e for e in events if e["kind"] == "agent_acted" and e["action"] == "restore_tab"]
    assert [e["args"]["url"] for e in dropped] == [secret.as_uri(), "http://169.254.169.254/"]
    assert "file://" in dropped[0]["error"] and "private or local" in dropped[1]["error"]
    asked = "".join(r.all_text() for r in server.requests[asked_before:])
    assert "host-secret" not in asked and "a host file" not in asked
    assert SEEN[1][:2] == ("/login", "session=member-42")
