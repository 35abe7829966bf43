"""The web view as a face on a run's control channel: commands posted from the run page reach
the run; posts from anywhere else do not. The page itself is driven in real Chromium."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from magentic.config import load_config
from magentic.control.channel import ControlChannel
from magentic.events import ControlDecided, ControlRequested, RunStarted
from magentic.team import run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.trace.writer import read_trace
from magentic.ui.web.app import WebView
from magentic.ui.web.steering import WebSteering

from .test_web_browser import page  # noqa: F401  (the Chromium page fixture)


async def test_only_the_pages_own_posts_are_taken(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "rid"
    folder.mkdir(parents=True)
    started = RunStarted(task="t", agents=["Coder"], run_id="rid", seq=1)
    (folder / "trace.jsonl").write_text(started.model_dump_json() + "\n")
    control = ControlChannel()
    view = WebView([tmp_path / "runs"])
    url = await view.start()
    try:
        steering = view.steer(control)
        steering.push(started)
        assert control.present  # the view counts as a person who can answer
        target = f"{url}control/0/rid"
        good = {"Origin": url.rstrip("/")}
        pause = json.dumps({"kind": "pause"})
        async with httpx.AsyncClient() as stranger, httpx.AsyncClient() as client:
            assert (await client.get(view.link())).status_code == 303  # the printed link

            async def post(
                headers: dict[str, str], body: str = pause, who: httpx.AsyncClient = client
            ) -> httpx.Response:
                return await who.post(
                    target, content=body, headers={"Content-Type": "application/json", **headers}
                )

            page_html = (await client.get(f"{url}run/0/rid")).text
            assert 'data-control="/control/0/rid"' in page_html and "token" not in page_html
            elsewhere = await post({**good, "Origin": "http://evil.example"})
            no_cookie = await post(good, who=stranger)
            nonsense = await post(good, json.dumps({"kind": "pause", "extra": 1}))
            assert (elsewhere.status_code, no_cookie.status_code) == (403, 401)
            assert nonsense.status_code == 400 and "pause" in nonsense.json()["error"]
            assert not control.paused
            taken = await post(good)
            assert taken.status_code == 200 and control.paused
    finally:
        await view.stop()
    assert not control.present  # a stopped view is nobody


def reviewed(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step in ("facts", "replan_facts"):
        return roles.facts()
    if step in ("plan", "replan_plan"):
        return roles.plan(("Coder", "write code that prints 7"))
    if step == "progress":
        if roles.last_from(request, "Coder") is None:
            return roles.progress("Coder", "Do the first step of the plan.")
        return roles.progress(satisfied=True)
    if step == "coder":
        return Reply.text("Done.")
    return Reply.text("The number is 7.")


@pytest.mark.browser
@pytest.mark.parametrize("answer", ["approve", "edit"])
async def test_a_plan_review_is_answered_from_the_run_page(
    page: Page,  # noqa: F811
    tmp_path: Path,
    answer: str,
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    with ScriptedLLMServer(reviewed) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "agents": ["Coder"],
                "trace_dir": tmp_path / "runs",
                "orchestrator.review_plan": True,
            },
            environ={},
        )
        control = ControlChannel()
        view = WebView([tmp_path / "runs"])
        await view.start()
        run_ids: list[str] = []
        started = asyncio.Event()

        def on_start(event: object) -> None:
            if getattr(event, "kind", "") == "run_started":
                run_ids.append(event.run_id)  # type: ignore[attr-defined]
                started.set()

        steering = view.steer(control)
        run = asyncio.create_task(
            run_task(
                "Say the number.", config, subscribers=[on_start, steering.push], control=control
            )
        )
        try:
            await started.wait()
            # the printed link, perhaps before the review is asked
            await page.goto(view.link(f"run/0/{run_ids[0]}"))
            box = page.locator('#steer .request[data-kind="plan_review"]')
            await box.wait_for(timeout=30_000)
            assert "1. Coder: write code that prints 7" in await box.locator(".plan").input_value()
            if answer == "edit":
                await box.locator(".plan").fill("1. Coder: print 6 * 7\n2. Coder: check it twice")
                await box.locator('button[data-command="edit_plan"]').click()
            else:
                await box.locator('button[data-command="approve"]').click()
            result = await asyncio.wait_for(run, 60)
            await page.locator('#steer[data-key="ended"]').wait_for(state="attached")
        finally:
            run.cancel()
            await view.stop()
    assert result.status == "answered", result.stop_reason
    assert not errors
    events = read_trace(Path(str(result.trace_path)))
    [received] = [e for e in events if e.kind == "control_received"]
    session = received.face  # type: ignore[attr-defined]
    assert session.startswith("web:") and session != "web:"  # the view's session, not "person"
    decided = [(e.decision, e.by) for e in events if e.kind == "control_decided"]  # type: ignore[attr-defined]
    progress = next(r for r in server.requests if roles.phase(r) == "progress")
    if answer == "edit":
        assert decided == [("edit", session)]
        assert "1. Coder: print 6 * 7\n2. Coder: check it twice" in progress.all_text()
    else:
        assert decided == [("approve", session)]
        assert "write code that prints 7" in progress.all_text()


class HeldCoder:
    """The Coder's model call waits until the test lets it go, so the page's pause lands
    in the middle of a round."""

    def __init__(self) -> None:
        self.coder_called = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: ChatRequest) -> Reply:
        if roles.phase(request) == "coder":
            self.coder_called.set()
            self.release.wait(60)
        return reviewed(request)


@pytest.mark.browser
async def test_the_page_pauses_guides_and_resumes_a_run(
    page: Page,  # noqa: F811
    tmp_path: Path,
) -> None:
    script = HeldCoder()
    with ScriptedLLMServer(script) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "agents": ["Coder"],
                "trace_dir": tmp_path / "runs",
            },
            environ={},
        )
        control = ControlChannel()
        view = WebView([tmp_path / "runs"])
        await view.start()
        steering = view.steer(control)
        run = asyncio.create_task(
            run_task("Say the number.", config, subscribers=[steering.push], control=control)
        )
        try:
            assert await asyncio.to_thread(script.coder_called.wait, 60)
            await page.goto(view.link(f"run/0/{steering.run_id}"))
            await page.locator('#steer button[data-command="pause"]').click()
            await page.locator("#steer-state", has_text="pausing").wait_for()
            script.release.set()
            await page.locator("#steer-state", has_text="paused").wait_for()
            await page.locator("#guide-text").fill("Say it in digits.")
            await page.locator('#steer button[data-command="guide"]').click()
            await expect(page.locator("#guide-text")).to_have_value("")  # taken
            await page.locator('#steer button[data-command="resume"]').click()
            result = await asyncio.wait_for(run, 60)
        finally:
            script.release.set()
            run.cancel()
            await view.stop()
    assert result.status == "answered", result.stop_reason
    events = read_trace(Path(str(result.trace_path)))
    kinds = [e.kind for e in events]
    assert kinds.index("paused") < kinds.index("unpaused")
    received = [(e.command["kind"], e.face) for e in events if e.kind == "control_received"]  # type: ignore[attr-defined]
    [session] = {face for _, face in received}  # one browser, one session
    assert session.startswith("web:")
    assert received == [("pause", session), ("guide", session), ("resume", session)]
    last = [r for r in server.requests if roles.phase(r) == "progress"][-1]
    assert ("user", "Say it in digits.") in roles.said(last)


def test_the_panel_shows_an_approval_with_its_screenshot_and_escapes_its_text() -> None:
    steering = WebSteering(ControlChannel())
    hostile = '<script>alert(1)</script> "quoted"'
    asked = ControlRequested(
        request_id="r1",
        request="approval",
        agent="WebSurfer",
        action="submit_form",
        target="https://shop.test/order",
        detail=f"click Send {hostile}",
        run_id="rid",
    )
    asked.attachment_paths.append("attachments/00003-form.png")
    steering.push(asked)
    html = steering.panel("0/rid")
    assert 'data-kind="approval"' in html and "WebSurfer asks to submit_form" in html
    assert (
        '<img alt="attachments/00003-form.png" src="/file/0/rid/attachments/00003-form.png">'
        in html
    )
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    before = steering.key()
    steering.push(ControlDecided(request_id="r1", request="approval", decision="deny", by="person"))
    assert 'data-kind="approval"' not in steering.panel("0/rid") and steering.key() != before
