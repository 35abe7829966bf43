"""Reading a whole page rather than its viewport: as Markdown, or through the model.

`read_page` converts the page's current DOM (scripts have run, open shadow roots inlined,
every frame after it) with markitdown.
`answer_question` and `summarize_page` cut that text into chunks that fit the model's
context, ask about each part, and combine the notes in one last call; a page that fits in
one chunk costs one call.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

from magentic.agents.tools import NoArgs, ToolRegistry, tool
from magentic.agents.web_surfer import prompts
from magentic.agents.web_surfer.actions import ActionResult
from magentic.agents.web_surfer.browser import BrowserSession, first_line
from magentic.agents.web_surfer.frames import FRAME_TIMEOUT_S, MAX_FRAMES
from magentic.agents.web_surfer.page_module import call
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.agents.web_surfer.tool_args import Question
from magentic.errors import ends_the_step
from magentic.llm.client import ModelClient
from magentic.llm.messages import system, user


@lru_cache(maxsize=1)
def _markitdown() -> Any:
    from markitdown import MarkItDown

    return MarkItDown()


def html_to_markdown(html: str, url: str) -> str:
    """Markdown of an HTML document (blocking: call it in a thread)."""
    from markitdown import StreamInfo

    info = StreamInfo(mimetype="text/html", extension=".html", charset="utf-8", url=url)
    result = _markitdown().convert_stream(io.BytesIO(html.encode("utf-8")), stream_info=info)
    return str(result.markdown or "").strip()


async def page_markdown(page: Page) -> str:
    """The whole page: the top document, open shadow roots inlined, then each frame's
    document under a heading naming the frame and its address."""
    main = await _html(page.main_frame)
    if main is None:
        main = await page.content()
    parts = [await asyncio.to_thread(html_to_markdown, main, page.url)]
    frames = page.frames[1 : MAX_FRAMES + 1]
    htmls = await asyncio.gather(*(_html(f) for f in frames))
    for frame, html in zip(frames, htmls, strict=True):
        name = frame.name or await _frame_title(frame)
        heading = f"## Frame {name!r} ({frame.url})" if name else f"## Frame ({frame.url})"
        if html is None:
            parts.append(f"{heading}\n\n(its content could not be read)")
            continue
        text = await asyncio.to_thread(html_to_markdown, html, frame.url)
        if text:  # empty frames (trackers, spacers) are left out
            parts.append(f"{heading}\n\n{text}")
    if len(page.frames) > MAX_FRAMES + 1:
        parts.append(f"({len(page.frames) - MAX_FRAMES - 1} more frames were not read.)")
    return "\n\n".join(p for p in parts if p)


async def _html(frame: Frame) -> str | None:
    """The frame's document with its open shadow roots in place (page.js `html`)."""
    try:
        html = await asyncio.wait_for(call(frame, "html"), FRAME_TIMEOUT_S)
    except (PlaywrightError, asyncio.TimeoutError, TimeoutError):
        return None
    return html if isinstance(html, str) else None


async def _frame_title(frame: Frame) -> str:
    try:
        return await asyncio.wait_for(frame.title(), FRAME_TIMEOUT_S)
    except (PlaywrightError, asyncio.TimeoutError, TimeoutError):
        return ""


def chunks(text: str, size: int) -> list[str]:
    """Pieces of at most `size` characters, cut at paragraph or line ends where possible."""
    out: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind("\n\n", size // 2, size)
        if cut < 0:
            cut = rest.rfind("\n", size // 2, size)
        if cut < 0:
            cut = size
        out.append(rest[:cut].strip())
        rest = rest[cut:]
    if rest.strip():
        out.append(rest.strip())
    return out


async def ask_about_page(
    client: ModelClient,
    page: Page,
    settings: WebSurferSettings,
    *,
    question: str | None,
) -> str:
    """The model's answer to `question` (or its summary, when None) about the whole page."""
    text = await page_markdown(page)
    title = await page.title()
    if not text:
        return "The page has no text."
    parts = chunks(text, settings.chunk_chars)[: settings.max_chunks]
    notes = await asyncio.gather(
        *(
            _ask(client, title, page.url, part, question, n, len(parts))
            for n, part in enumerate(parts, start=1)
        )
    )
    if len(notes) == 1:
        return notes[0]
    goal = prompts.COMBINE_ANSWER.format(question=question) if question else prompts.COMBINE_SUMMARY
    joined = "\n\n".join(f"Part {n}: {note}" for n, note in enumerate(notes, start=1))
    messages = [
        system(prompts.READER_SYSTEM),
        user(prompts.COMBINE.format(title=title, url=page.url, goal=goal, notes=joined)),
    ]
    result = await client.chat(messages)
    return result.text.strip()


async def _ask(
    client: ModelClient,
    title: str,
    url: str,
    text: str,
    question: str | None,
    n: int,
    total: int,
) -> str:
    part = "the whole text" if total == 1 else f"part {n} of {total}"
    template = prompts.PAGE_QUESTION if question else prompts.PAGE_SUMMARY
    prompt = template.format(part=part, title=title, url=url, question=question, text=text)
    result = await client.chat([system(prompts.READER_SYSTEM), user(prompt)])
    return result.text.strip()


class PageReader:
    """The reading tools: they look at the whole page and change nothing on it."""

    def __init__(
        self, session: BrowserSession, settings: WebSurferSettings, client: ModelClient
    ) -> None:
        self.session = session
        self.settings = settings
        self.client = client
        self.tools: ToolRegistry[ActionResult] = ToolRegistry.of(self)

    @tool("read_page", "The whole page as Markdown.")
    async def read_page(self, a: NoArgs) -> ActionResult:
        async def read() -> ActionResult:
            text = await page_markdown(await self.session.ready_page())
            limit = self.settings.read_page_chars
            if len(text) > limit:
                more = len(text) - limit
                text = text[:limit] + f"\n... ({more} more characters; ask answer_question)"
            return ActionResult("Read the whole page.", content=text or "(no text)")

        return await self._guarded("read the page", read)

    @tool("answer_question", "Answer a question from the whole page.")
    async def answer_question(self, a: Question) -> ActionResult:
        return await self._ask("answer the question", a.question)

    @tool("summarize_page", "Summarize the page.")
    async def summarize_page(self, a: NoArgs) -> ActionResult:
        return await self._ask("summarize the page", None)

    async def _ask(self, what: str, question: str | None) -> ActionResult:
        async def ask() -> ActionResult:
            page = await self.session.ready_page()
            answer = await ask_about_page(self.client, page, self.settings, question=question)
            done = f"Answered {question!r} from the page" if question else "Summarized the page"
            return ActionResult(f"{done}.", content=answer)

        return await self._guarded(what, ask)

    async def _guarded(
        self, what: str, work: Callable[[], Awaitable[ActionResult]]
    ) -> ActionResult:
        try:
            return await work()
        except Exception as error:  # the page went away under us: an observation
            if ends_the_step(error):  # e.g. the model endpoint failing, as at every call site
                raise
            return ActionResult(f"Could not {what}.", error=first_line(error))
