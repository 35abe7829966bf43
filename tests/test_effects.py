"""Side effects happen once, even across `kill -9` and `magentic resume`: a real `magentic
run` subprocess is killed in the middle of the round whose side effect has already left
(code that appended to a file in the real Docker sandbox; an order form posted by real
Chromium to a local shop), then resumed unattended. The resumed round asks for the same
action again; it is not repeated, and the run says so."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from tests.conftest import require
from tests.test_resume import env, magentic, trace_events

# The first run of it waits after ordering (the test kills it there); a second run would
# add a second line and go on.
CODE = (
    "I'll place the order.\n\n```python\nimport os, time\n"
    "first = not os.path.exists('orders.txt')\n"
    "with open('orders.txt', 'a') as f:\n    f.write('one order\\n')\n"
    "print('ordered', flush=True)\nif first:\n    time.sleep(120)\n```"
)


def coder_then_terminal(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("Coder", "write the order code"), ("ComputerTerminal", "run it"))
    if step == "coder":
        return Reply.text(CODE)
    who = [name for name, _ in roles.said(request)]
    if step == "progress":
        if "ComputerTerminal" in who:
            return roles.progress(satisfied=True)
        if "Coder" in who:
            return roles.progress("ComputerTerminal", "Run the Coder's code.")
        return roles.progress("Coder", "Write the code that places the order.")
    return Reply.text("The order is placed.")


def kill_when(ready: Callable[[], bool], args: list[str], cwd: Path) -> None:
    """Start `magentic ARGS`, wait until `ready()` (the side effect has left), SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "magentic.cli", *args],
        cwd=cwd,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready() and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.02)  # polling for the side effect, not timing anything
        assert ready(), "the run never got to its side effect"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL


def left_by_the_kill(run_dir: Path) -> None:
    """What the killed process could not clean (its container, still sleeping in the
    code, and its workspace's quota mount): this test's own leftovers, removed."""
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=magentic.run={run_dir.name}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    for container in found.stdout.split():
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    workspace = str((run_dir / "workspace").resolve())
    if any(line.split()[1] == workspace for line in Path("/proc/mounts").read_text().splitlines()):
        subprocess.run(["umount", "-l", workspace], check=False)
    for image in run_dir.glob(".workspace-quota-*.img"):
        image.unlink()


def orders_in(trace_dir: Path) -> str:
    for path in trace_dir.glob("*/workspace/orders.txt"):
        return path.read_text()
    return ""


@pytest.mark.slow
@pytest.mark.docker
def test_code_cut_off_by_a_kill_does_not_run_again_after_resume(tmp_path: Path) -> None:
    from tests.execution.conftest import require_docker

    require_docker()
    runs = tmp_path / "runs"
    with ScriptedLLMServer(coder_then_terminal) as server:
        args = ["run", "Place the order.", "--base-url", server.base_url, "--agents",
                "Coder,ComputerTerminal", "--trace-dir", str(runs), "--json"]  # fmt: skip
        kill_when(lambda: orders_in(runs) == "one order\n", args, tmp_path)
        run_dir = next(runs.iterdir())
        try:
            resumed = magentic(
                "resume", str(run_dir), "--base-url", server.base_url, "--json", cwd=tmp_path
            )
            orders = (run_dir / "workspace" / "orders.txt").read_text()
        finally:
            left_by_the_kill(run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert orders == "one order\n"
    effects = [e for e in trace_events(run_dir) if e["kind"] == "side_effect_recorded"]
    assert [e["outcome"] for e in effects] == ["not_repeated"]
    told = [e for e in trace_events(run_dir) if e["kind"] == "agent_replied"]
    assert "not done again" in told[-1]["text"]
    shown = magentic("trace", "show", str(run_dir), cwd=tmp_path)
    assert "ComputerTerminal: running 1 code block(s)" in shown.stdout
    assert "— not done again" in shown.stdout
    assert magentic("trace", "html", str(run_dir), cwd=tmp_path).returncode == 0


# The order form ----------------------------------------------------------------------------
# Each load of the form carries a new anti-forgery token, as a real shop's does: the order
# the resumed round would send again differs from the first in it alone.
FORM = (
    "<html><head><title>Shop</title></head><body><h1>Order</h1>"
    '<form method="post" action="/order"><input type="hidden" name="csrf_token" value="{n}">'
    '<input name="item" value="teapot"><button type="submit">Place order</button></form>'
    "</body></html>"
)


class Shop:
    """A local shop whose order endpoint counts the POSTs and never answers the first one
    until told (so the run is killed with the order sent and no response)."""

    def __init__(self) -> None:
        self.posts: list[bytes] = []
        self.loads = 0
        self.release = threading.Event()
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/":
                    self.send_error(404)
                    return
                shop.loads += 1
                self._send(FORM.format(n=shop.loads).encode())

            def do_POST(self) -> None:
                shop.posts.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                shop.release.wait(60)
                self._send(b"<html><title>Thanks</title><body>Order received.</body></html>")

            def _send(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Shop:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def surfer_orders(url: str) -> Callable[[ChatRequest], Reply]:
    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("WebSurfer", "open the shop and place the order"))
        if step == "progress":
            replies = [t for who, t in roles.said(request) if who == "WebSurfer"]
            if len(replies) >= 2:
                return roles.progress(satisfied=True)
            if replies:
                return roles.progress("WebSurfer", "Click Place order.")
            return roles.progress("WebSurfer", "Open the shop.")
        if step == "final":
            return Reply.text("The order is placed.")
        text = request.last_user_text()
        if "Click Place order" in text:
            button = _button_id(request.all_text())
            return Reply.tool_call("click", {"target_id": button})
        if "Open the shop" in text:
            return Reply.tool_call("visit_url", {"url": url})
        return Reply.text("Done.")

    return script


def _button_id(text: str) -> int:
    import re

    found = re.findall(r"\[(\d+)\][^\n]*Place order", text)
    return int(found[-1]) if found else 1


@pytest.mark.slow
@pytest.mark.browser
def test_an_order_posted_before_a_kill_is_not_posted_again(
    tmp_path: Path, has_chromium: bool
) -> None:
    require(has_chromium, "Chromium (scripts/install --browser)")
    runs = tmp_path / "runs"
    with Shop() as shop, ScriptedLLMServer(surfer_orders(f"http://{shop.host}/")) as server:
        config = tmp_path / "mine.toml"
        config.write_text(
            f'[approval]\nsubmit_form = "allow"\n[web.url_policy]\nallow = ["{shop.host}"]\n'
        )
        common = ["--base-url", server.base_url, "--config", str(config), "--json"]
        args = ["run", "Order a teapot at the shop.", "--agents", "WebSurfer",
                "--trace-dir", str(runs), *common]  # fmt: skip
        kill_when(lambda: len(shop.posts) == 1, args, tmp_path)
        run_dir = next(runs.iterdir())
        shop.release.set()
        resumed = magentic("resume", str(run_dir), *common, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert shop.posts == [b"csrf_token=1&item=teapot"]  # the order went out once
        assert shop.loads == 2  # the form was loaded again, with a new token, by the resume
    effects = [e for e in trace_events(run_dir) if e["kind"] == "side_effect_recorded"]
    assert [e["outcome"] for e in effects] == ["not_repeated"]
    assert json.loads(resumed.stdout)["status"] == "answered"


@pytest.fixture
def has_chromium() -> Iterator[bool]:
    from tests.web.conftest import chromium_available

    yield chromium_available()
