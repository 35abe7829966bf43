"""The web view shows no secret the trace would not: the model's streamed text and the
approval panel are redacted before any follower gets them, even when the streamed reply
cuts a key in two."""

from __future__ import annotations

import asyncio
import json
import secrets as random
from pathlib import Path

import httpx

from magentic import secrets
from magentic.config import load_config
from magentic.events import ModelDelta
from magentic.team import run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.ui.web.app import Streams, WebView

from .held import RUN_ID, held_approval
from .test_web_door import signed_in


def _fresh_key() -> str:
    return "mk-" + random.token_hex(20)  # no well-known shape: only the config names it


async def _deltas(client: httpx.AsyncClient, path: str, until: asyncio.Future[object]) -> list[str]:
    texts: list[str] = []
    async with client.stream("GET", path) as response:
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "delta":
                texts.append(json.loads(line[6:])["text"])
            elif line.startswith("data: ") and name == "end":
                break
    return texts


async def test_a_key_the_model_streams_never_reaches_the_page(tmp_path: Path) -> None:
    key = _fresh_key()
    # The key sits across the coalescer's 200-character cut, so no one delta holds it whole.
    reply = "Working on it. " + "x" * 170 + " the key is " + key + " and that is all."

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step in ("facts", "replan_facts"):
            return roles.facts()
        if step in ("plan", "replan_plan"):
            return roles.plan(("Coder", "say the key"))
        if step == "progress":
            if roles.last_from(request, "Coder") is None:
                return roles.progress("Coder", "Do the first step of the plan.")
            return roles.progress(satisfied=True)
        if step == "coder":
            return Reply.text(reply)
        return Reply.text("Done.")

    with ScriptedLLMServer(script, api_key=key) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "models.default.api_key": key,
                "models.default.stream": True,
                "agents": ["Coder"],
                "cache.mode": "off",
                "trace_dir": tmp_path / "runs",
            },
            environ={},
        )
        view = WebView([tmp_path / "runs"], poll_s=0.02)
        await view.start()
        client = await signed_in(view)
        run_ids: list[str] = []
        started = asyncio.Event()

        def on_start(event: object) -> None:
            if getattr(event, "kind", "") == "run_started":
                run_ids.append(event.run_id)  # type: ignore[attr-defined]
                started.set()

        run = asyncio.create_task(
            run_task("Say the key.", config, subscribers=[on_start, view.streams.push])
        )
        try:
            await asyncio.wait_for(started.wait(), 30)
            texts = await asyncio.wait_for(
                _deltas(client, f"/follow/run/0/{run_ids[0]}?offset=0", run), 60
            )
            result = await asyncio.wait_for(run, 60)
        finally:
            run.cancel()
            await client.aclose()
            await view.stop()
    assert result.status == "answered", result.stop_reason
    shown = "".join(texts)
    assert "x" * 170 in shown and "the key is [redacted]" in shown
    assert key not in shown and key[:8] not in shown and key[-8:] not in shown


def test_streams_hold_a_half_written_key_until_it_is_whole() -> None:
    key = _fresh_key()
    secrets.register([key])
    streams = Streams()
    queue = streams.open("r")
    text = f"token={key} ok then"
    sent = 0
    for cut in (9, 20, 31, len(text)):  # the key arrives in three pieces
        streams.push(ModelDelta(run_id="r", role="coder", text=text[sent:cut], chars=cut))
        sent = cut
    got = []
    while not queue.empty():
        got.append(queue.get_nowait())
    shown = "".join(d["text"] for d in got)
    assert shown == "token=[redacted] ok "  # "then" waits for the rest of its word
    assert got[0]["chars"] == len(got[0]["text"])  # the page still sees where a call starts
    assert [d["chars"] for d in got][-1] == len(shown)


async def test_the_approval_panel_shows_no_key(tmp_path: Path) -> None:
    key = _fresh_key()
    secrets.register([key])
    detail = f"POST https://shop.test/order api_key={key}"
    async with held_approval(tmp_path / "runs", detail=detail) as held:
        client = await signed_in(held.view)
        try:
            page = await client.get(f"/run/0/{RUN_ID}")
            async with client.stream("GET", f"/follow/run/0/{RUN_ID}?offset=0") as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and "steer" in line:
                        panel = json.loads(line[6:])["html"]
                        break
        finally:
            await client.aclose()
    assert 'data-kind="approval"' in page.text and "api_key=[redacted]" in page.text
    assert key not in page.text and "api_key=[redacted]" in panel and key not in panel
