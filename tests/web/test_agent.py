"""The WebSurfer agent end to end: real Chromium, the local sites, and a ScriptedLLMServer
whose script chooses each action from what the agent showed it (the element list in the
request), the way a model would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from magentic.agents.base import StepContext
from magentic.agents.web_surfer import prompts
from magentic.agents.web_surfer.agent import WebSurfer
from magentic.agents.web_surfer.browser import BrowserPool
from magentic.events import AgentActed, Event, EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer
from tests.web.conftest import web_settings

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

ELEMENT = re.compile(r'^\[(\d+)\] [\w -]+ "([^"]*)"', re.MULTILINE)


def step_text(request: ChatRequest) -> str:
    """The surfer's own prompt (a JSON-mode endpoint gets a format note after it)."""
    for message in reversed(request.messages):
        text = ChatRequest.content_text(message)
        if message.get("role") == "user" and "The browser now:" in text:
            return text
    return request.last_user_text()


def element_id(request: ChatRequest, name: str) -> int:
    """The id the agent showed for the element named `name` (as a model would read it)."""
    for number, label in ELEMENT.findall(step_text(request)):
        if name.lower() in label.lower():
            return int(number)
    raise AssertionError(f"no element {name!r} in the request")


def page_title(request: ChatRequest) -> str:
    match = re.search(r"^Page: (.*)$", step_text(request), re.MULTILINE)
    return match.group(1) if match else ""


def surfing_script(request: ChatRequest) -> Reply:
    """Search, open the result, reveal a fact, then report."""
    text = step_text(request)
    title = page_title(request)
    if "12 square kilometres" in text:
        return Reply.text("Alpha Peak: 4,321 metres; its glacier covers 12 square kilometres.")
    if title == "Alpha Peak":
        return Reply.tool_call("click", {"target_id": element_id(request, "Show more facts")})
    if title.endswith("Local Search"):
        return Reply.tool_call("click", {"target_id": element_id(request, "Alpha Peak")})
    return Reply.tool_call("web_search", {"query": "alpha peak"})


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class Harness:
    """A WebSurfer wired to a scripted model, a step context and an event recorder."""

    def __init__(self, surfer: WebSurfer, ctx: StepContext, recorder: Recorder, server: Any):
        self.surfer, self.ctx, self.recorder, self.server = surfer, ctx, recorder, server

    async def step(self, instruction: str = "Find how high Alpha Peak is.") -> Any:
        return await self.surfer.step(instruction, self.ctx)


MakeHarness = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="module")  # the tests' loop: sessions close where they ran
async def harness(
    pool: BrowserPool, site_host: str, other_host: str, tmp_path: Path
) -> AsyncIterator[MakeHarness]:
    opened: list[tuple[Harness, ModelClient, ScriptedLLMServer]] = []

    async def make(script: Any, *, vision: bool = True, tools: bool = True, **settings: Any):
        server = ScriptedLLMServer(script, supports_tools=tools).start()
        bus = EventBus("test")
        recorder = Recorder()
        bus.subscribe(recorder)
        client = ModelClient(
            ModelSettings(model="scripted", base_url=server.base_url, api_key="t", vision=vision),
            role="web_surfer",
            events=bus,
        )
        surfer = WebSurfer(client, web_settings(site_host, other_host, **settings), pool=pool)
        ctx = StepContext(
            task="Report facts about Alpha Peak.", conversation=[], workspace=tmp_path, events=bus
        )
        h = Harness(surfer, ctx, recorder, server)
        opened.append((h, client, server))
        return h

    yield make
    for h, client, server in opened:
        await h.surfer.close()
        await client.close()
        server.stop()


async def test_one_action_per_step_with_screenshots(harness: MakeHarness) -> None:
    h = await harness(surfing_script)
    replies = [await h.step() for _ in range(4)]
    assert "Searched the web for 'alpha peak'." in replies[0].text
    assert "Alpha Peak" in replies[0].text  # the results page, reported to the orchestrator
    assert "Clicked [" in replies[1].text and "4,321 metres" in replies[1].text
    assert "12 square kilometres" in replies[2].text
    assert replies[3].text.startswith("Alpha Peak: 4,321 metres")
    for reply in replies:
        assert len(reply.images) == 1 and reply.images[0].width <= 1024
    assert "[1]" not in replies[0].text  # the element list stays with the surfer
    # One model call per step; each shows the current page once, never older screenshots.
    assert len(h.server.requests) == 4
    assert all(request.image_count() == 1 for request in h.server.requests)
    assert all("web_search" in request.tool_names for request in h.server.requests)
    acted = h.recorder.of(AgentActed)
    assert [a.action for a in acted] == ["web_search", "click", "click"]
    assert all(a.attachments and a.attachments[0].mime == "image/jpeg" for a in acted)
    assert acted[1].result.endswith("-> Alpha Peak")


async def test_several_actions_in_one_step(harness: MakeHarness) -> None:
    h = await harness(surfing_script, actions_per_step=5)
    reply = await h.step()
    assert len(h.server.requests) == 4
    assert "- Searched the web for 'alpha peak'. Now at: alpha peak - Local Search" in reply.text
    assert "glacier covers 12 square kilometres" in reply.text
    # Later calls carry the log of this step's earlier actions.
    assert "What you did so far" in h.server.requests[3].last_user_text()


async def test_text_only_mode_sends_no_images(harness: MakeHarness) -> None:
    h = await harness(surfing_script, vision=False)
    replies = [await h.step() for _ in range(4)]
    assert replies[3].text.startswith("Alpha Peak: 4,321 metres")
    assert all(request.image_count() == 0 for request in h.server.requests)
    assert all(not reply.images for reply in replies)
    # The trace still keeps a screenshot of every action.
    assert all(a.attachments for a in h.recorder.of(AgentActed))


async def test_endpoint_without_tool_calls_still_drives_the_browser(
    harness: MakeHarness,
) -> None:
    def script(request: ChatRequest) -> Reply:
        reply = surfing_script(request)
        if reply.tool_calls:
            name, arguments = reply.tool_calls[0]
            return Reply.json({"tool": name, "arguments": arguments})
        return Reply.json({"answer": reply.content})

    h = await harness(script, tools=False)
    replies = [await h.step() for _ in range(4)]
    assert replies[3].text.startswith("Alpha Peak: 4,321 metres")


def reader_script(surf: Callable[[ChatRequest], Reply]) -> Callable[[ChatRequest], Reply]:
    """Answers reading requests from the page text they carry; others go to `surf`."""

    def script(request: ChatRequest) -> Reply:
        if request.system_text() != prompts.READER_SYSTEM:
            return surf(request)
        asked = request.last_user_text()
        if asked.startswith("Below are notes"):
            found = re.search(r"Part \d+: (The answer is \d+)", asked)
            return Reply.text(found.group(1) if found else "Unknown")
        found = re.search(r"the answer is (\d+)", asked) or re.search(r"([\d,]+) metres", asked)
        return Reply.text(f"The answer is {found.group(1)}" if found else "Not in this part.")

    return script


async def test_answer_question_reads_the_whole_page_in_chunks(
    harness: MakeHarness, site: str
) -> None:
    def surf(request: ChatRequest) -> Reply:
        if page_title(request) != "Long page":
            return Reply.tool_call("visit_url", {"url": f"{site}/long.html"})
        if "- Answered 'What is the answer?'" in request.last_user_text():
            return Reply.text("Done.")
        return Reply.tool_call("answer_question", {"question": "What is the answer?"})

    h = await harness(reader_script(surf), chunk_chars=4000, actions_per_step=3)
    reply = await h.step()
    reading = [r for r in h.server.requests if r.system_text() == prompts.READER_SYSTEM]
    parts = [r for r in reading if "Here is part" in r.last_user_text()]
    assert len(parts) >= 4  # the page did not fit one chunk
    assert len(reading) == len(parts) + 1  # and one call combined the notes
    assert "The answer is 99" in reply.text  # found at the very end, far out of view
    assert "the answer is 99" not in h.server.requests[1].last_user_text()


async def test_read_page_and_summarize(harness: MakeHarness, site: str) -> None:
    calls = iter(
        [
            Reply.tool_call("visit_url", {"url": f"{site}/articles/alpha.html"}),
            Reply.tool_call("read_page"),
            Reply.tool_call("summarize_page"),
        ]
    )

    def surf(request: ChatRequest) -> Reply:
        return next(calls, Reply.text("Done."))

    def script(request: ChatRequest) -> Reply:
        if request.system_text() == prompts.READER_SYSTEM:
            return Reply.text("Summary: a 4,321 metre mountain first climbed in 1911.")
        return surf(request)

    h = await harness(script, actions_per_step=4)
    reply = await h.step()
    assert "# Alpha Peak" in reply.text  # markitdown's heading for the page's h1
    assert "first climbed in 1911 by a party of three" in reply.text
    assert "Summary: a 4,321 metre mountain first climbed in 1911." in reply.text


async def test_downloads_are_handed_on_as_files(harness: MakeHarness, site: str) -> None:
    def script(request: ChatRequest) -> Reply:
        if page_title(request) == "Downloads":
            if "- Downloaded the file" in request.last_user_text():
                return Reply.text("Downloaded it.")
            return Reply.tool_call("download", {"target_id": element_id(request, "report")})
        return Reply.tool_call("visit_url", {"url": f"{site}/download.html"})

    h = await harness(script, actions_per_step=3)
    reply = await h.step()
    assert [f.name for f in reply.files] == ["report.csv"]
    assert reply.files[0].read_text().startswith("quarter,revenue")
    assert "Files saved in the workspace: report.csv" in reply.text


async def test_reset_starts_a_fresh_browser_context(harness: MakeHarness, site: str) -> None:
    h = await harness(lambda r: Reply.tool_call("visit_url", {"url": f"{site}/articles/beta.html"}))
    await h.step()
    first = h.surfer.session
    assert first is not None and (await first.ready_page()).url.endswith("beta.html")
    await h.surfer.reset()
    assert h.surfer.session is None and first.context is None
    reply = await h.step()
    assert "Beta Lake" in reply.text and h.surfer.session is not first


def tides_script(site: str) -> Callable[[ChatRequest], Reply]:
    """Open the news page, accept its consent overlay, fill the form inside the cross-origin
    tide frame, find the tide on the page, then report what the frame says."""

    def script(request: ChatRequest) -> Reply:
        text = step_text(request)
        done = re.findall(r"^- (.*)$", text, re.MULTILINE)
        if not done:
            return Reply.tool_call("visit_url", {"url": f"{site}/consent.html"})
        if "Accept all" in text and 'Frame "Tide chart"' not in text:
            return Reply.tool_call("click", {"target_id": element_id(request, "Accept all")})
        if "Tide for" not in text and not any("Typed" in line for line in done):
            return Reply.tool_call(
                "input_text", {"target_id": element_id(request, "Harbor"), "text": "Kiel"}
            )
        if "Tide for" not in text:
            return Reply.tool_call("click", {"target_id": element_id(request, "Show tide")})
        if not any(line.startswith("Found") for line in done):
            return Reply.tool_call("find_on_page", {"text": "high tide"})
        found = re.search(r"High tide at (\d\d:\d\d)", text)
        result = re.search(r"Tide for Kiel on \w+: [\d.]+ m", text)
        return Reply.text(
            f"High tide at {found.group(1) if found else '?'}; "
            f"{result.group(0) if result else '?'}."
        )

    return script


@pytest.mark.parametrize("vision", [True, False], ids=["images", "text-only"])
async def test_the_surfer_works_through_an_overlay_and_a_cross_origin_frame(
    harness: MakeHarness, site: str, vision: bool
) -> None:
    h = await harness(tides_script(site), vision=vision, actions_per_step=8)
    reply = await h.step("Find when high tide is in Kiel on the Harbor Times page.")
    assert "High tide at 06:42; Tide for Kiel on Monday: 1.8 m." in reply.text
    assert "match 1 of 1" in reply.text
    images = sum(request.image_count() for request in h.server.requests)
    assert (images > 0) if vision else (images == 0)
    # find_next is offered only once a search is under way.
    offered = [set(request.tool_names) for request in h.server.requests]
    assert "find_next" not in offered[0] and "find_next" in offered[-1]


def shop_script(site: str) -> Callable[[ChatRequest], Reply]:
    """Three pages a person meets: a hover menu, results that arrive late after a choice,
    and a price revealed inside a shadow root. Each action is chosen from what is shown."""

    def script(request: ChatRequest) -> Reply:
        text = step_text(request)
        title = page_title(request)
        if title in ("", "about:blank") or title == "(no title)":
            return Reply.tool_call("visit_url", {"url": f"{site}/menu.html"})
        if title == "Outfitters":
            if re.search(r'^\[\d+\] link "Kayaks"', text, re.MULTILINE):
                return Reply.tool_call("click", {"target_id": element_id(request, "Kayaks")})
            return Reply.tool_call("hover", {"target_id": element_id(request, "Equipment")})
        if title == "Beta Lake":
            return Reply.tool_call("visit_url", {"url": "../results.html"})  # relative
        if title == "Sailing results":
            if "Tern" not in text:
                target = element_id(request, "Race")
                return Reply.tool_call(
                    "select_option", {"target_id": target, "option": "Autumn cup"}
                )
            return Reply.tool_call("visit_url", {"url": "shadow.html"})
        if "Price:" not in text:
            return Reply.tool_call("click", {"target_id": element_id(request, "Show price")})
        price = re.search(r"Price: (\d+ EUR)", text)
        return Reply.text(f"The pocket lamp costs {price.group(1) if price else '?'}.")

    return script


@pytest.mark.parametrize("vision", [True, False], ids=["images", "text-only"])
async def test_the_surfer_uses_hover_menus_late_results_and_shadow_roots(
    harness: MakeHarness, site: str, vision: bool
) -> None:
    h = await harness(shop_script(site), vision=vision, actions_per_step=10)
    reply = await h.step("Find the price of the pocket lamp.")
    assert reply.text.strip().endswith("(Browser at: Gadget shop - " + f"{site}/shadow.html)")
    assert "The pocket lamp costs 129 EUR." in reply.text
    assert "Hovered over" in reply.text and "Now at: Beta Lake" in reply.text
    assert "Selected 'Autumn cup'" in reply.text
    images = sum(request.image_count() for request in h.server.requests)
    assert (images > 0) if vision else (images == 0)
