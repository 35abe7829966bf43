"""The WebSurfer agent: one model call picks one browser action per step, by default.

A step observes the page, asks the model for a tool call (or its answer in words), passes
the action through the `[approval]` gate (approval.py), runs it, observes again and
reports. The model sees the current page only: one screenshot, never a backlog of old
ones, plus a one-line log of what it did in this step. The orchestrator gets a compact page report
(no element list, which is only useful to the surfer) and, for a vision model, the
screenshot; every action's screenshot also goes to the trace.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from magentic.agents.base import AgentContext, AgentReply, BaseAgent, StepContext
from magentic.agents.tools import BadToolArguments
from magentic.agents.web_surfer import prompts
from magentic.agents.web_surfer.actions import ActionResult, Actions
from magentic.agents.web_surfer.approval import WebApprovals
from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession
from magentic.agents.web_surfer.guard import PageGuard
from magentic.agents.web_surfer.observe import Observation, render
from magentic.agents.web_surfer.reading import PageReader
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.agents.web_surfer.tools import tool_specs
from magentic.agents.web_surfer.url_policy import UrlPolicy
from magentic.events import Attachment
from magentic.llm.client import ModelClient
from magentic.llm.messages import (
    ContentPart,
    ImagePart,
    Message,
    ToolCall,
    ToolSpec,
    system,
    user,
)

DESCRIPTION = (
    "Uses a web browser: searches the web, opens pages, clicks, fills in forms, scrolls, "
    "downloads files, and reads, summarizes or answers questions about the page. Give it "
    "one concrete instruction at a time."
)


class WebSurfer(BaseAgent):
    def __init__(
        self,
        client: ModelClient,
        settings: WebSurferSettings | None = None,
        *,
        pool: BrowserPool | None = None,
        name: str = "WebSurfer",
    ) -> None:
        self.client = client
        self.settings = settings or WebSurferSettings()
        self.name = name
        self.description = DESCRIPTION
        self._own_pool = pool is None
        self.pool = pool or BrowserPool(self.settings)
        self.tools = tool_specs()
        self.session: BrowserSession | None = None
        self.actions: Actions | None = None
        self.reader: PageReader | None = None
        self.guard: PageGuard | None = None
        self.approvals: WebApprovals | None = None
        # Sites seen in this run: kept across a replan's fresh browser (`new_domain` is
        # about the run, not the browser context).
        self.visited_sites: set[str] = set()
        self._moved = False  # stepped since the last snapshot
        self._saved: dict[str, Any] | None = None  # the last snapshot

    @classmethod
    def from_context(cls, ctx: AgentContext) -> WebSurfer:
        """Built by the team: `[web]` settings; the shared browser pool if the run was given
        one (a benchmark shares one browser across tasks and closes it itself)."""
        pool = ctx.resources.browser_pool
        return cls(ctx.client_for("web_surfer"), ctx.config.web, pool=pool)

    @property
    def vision(self) -> bool:
        """What the endpoint is known to take now (it may have refused images or lists this
        run), so no screenshot is taken and encoded only for the wire to drop it."""
        return self.client.vision and not self.settings.text_only

    # Agent protocol ----------------------------------------------------------------------
    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        self._moved = True  # the browser may change from here on: snapshot it again
        session, actions = await self._session(ctx)
        guard = self._guard(session)
        approvals = self._approvals(session)
        await approvals.begin(ctx)
        seen = await guard.observe(screenshot=self.vision, notes=[])
        log: list[str] = []
        files: list[Path] = []
        content: list[str] = []
        for _ in range(self.settings.actions_per_step):
            call = await self.client.choose_tool(
                self._messages(instruction, ctx, seen, log), self._tools(ctx)
            )
            if isinstance(call, str):
                return self._reply(call, seen, files, content, log, answered=True)
            # The `[approval]` gate, before the action and off its clock: a person may take
            # a while. A no leaves the page as it was, and the model is told why.
            refused = await approvals.before(call, seen, actions)
            started = time.perf_counter()
            if refused is not None:
                result = refused
            else:
                result = await guard.act(self._run(call), _verb(call), budget_s=self._budget(call))
            # The trace keeps every step's screenshot, vision or not.
            seen = await guard.observe(screenshot=True, notes=result.notes)
            approvals.saw(seen)
            self._record(ctx, call, result, seen, (time.perf_counter() - started) * 1000)
            log.append(_log_line(result, seen))
            files += result.files
            if result.content:
                content.append(result.content)
        return self._reply(None, seen, files, content, log, answered=False)

    async def reset(self) -> None:
        """A replan starts the browser afresh: new context, no tabs, no cookies."""
        if self.session is not None:
            await self.session.close()
        self.session = None
        self.actions = None
        self.reader = None
        self.guard = None
        self.approvals = None
        self._saved = None

    async def close(self) -> None:
        await self.reset()
        if self._own_pool:
            await self.pool.close()

    async def snapshot(self) -> dict[str, Any]:
        """The tabs, the active one, cookies and local storage (nothing before a first
        web step: a resumed run then opens the browser when it is first needed).

        Taken again only after a step of ours (asking the browser costs ~3-10 ms); rounds
        of the other agents reuse the last one."""
        if self.session is None:
            return {}
        if self._moved or self._saved is None:
            state = await self.session.state()
            if state:  # with the sites seen so far: a resumed run does not ask about them
                state["sites"] = sorted(self.visited_sites)
            self._saved = state
            self._moved = False
        return self._saved

    async def restore(self, state: dict[str, Any], ctx: StepContext) -> None:
        """Reopen the saved tabs, signed in as before, ahead of the next step."""
        self.visited_sites.update(str(site) for site in state.get("sites", []))
        tabs = self._allowed_tabs([str(url) for url in state.get("tabs", [])], ctx)
        if tabs:
            await self._session(
                ctx,
                tabs,
                min(max(0, int(state.get("active", 0))), len(tabs) - 1),
                state.get("storage") or None,
            )

    def _allowed_tabs(self, urls: list[str], ctx: StepContext) -> list[str]:
        """The saved tabs today's URL policy allows (a checkpoint is data: a `file://` tab
        or a blocked host is dropped, and the drop said in the trace)."""
        policy = UrlPolicy(self.settings.url_policy)
        kept = []
        for url in urls:
            reason = policy.check_url(url)
            if reason is None:
                kept.append(url)
            else:
                ctx.acted(self.name, "restore_tab", {"url": url[:300]}, error=f"dropped: {reason}")
        return kept

    # Helpers -----------------------------------------------------------------------------
    async def _session(
        self,
        ctx: StepContext,
        urls: list[str] | None = None,
        active_index: int = 0,
        storage_state: dict[str, Any] | None = None,
    ) -> tuple[BrowserSession, Actions]:
        if self.session is None or self.actions is None:
            session = BrowserSession(self.pool, self.settings, downloads_dir=ctx.workspace)
            await session.start(urls, active_index, storage_state)
            self.session = session
            self.actions = Actions(
                session, self.settings, workspace=ctx.workspace, files=list(ctx.files)
            )
            self.reader = PageReader(session, self.settings, self.client)
        return self.session, self.actions

    def _approvals(self, session: BrowserSession) -> WebApprovals:
        if self.approvals is None or self.approvals.session is not session:
            self.approvals = WebApprovals(
                session, self.settings, agent=self.name, visited=self.visited_sites
            )
        return self.approvals

    def _guard(self, session: BrowserSession) -> PageGuard:
        if self.guard is None or self.guard.session is not session:
            self.guard = PageGuard(session, self.settings)
        return self.guard

    def _tools(self, ctx: StepContext) -> list[ToolSpec]:
        """The tools worth their schema tokens now: upload_file only when there are files,
        find_next only after a find_on_page."""
        skip = set()
        if not (bool(ctx.files) or any(p.is_file() for p in ctx.workspace.iterdir())):
            skip.add("upload_file")
        if self.actions is None or not self.actions.finding:
            skip.add("find_next")
        return [t for t in self.tools if t.name not in skip]

    def _budget(self, call: ToolCall) -> float | None:
        """Answers about a page need model calls, one per chunk: a longer deadline."""
        if self.reader is None or call.name not in self.reader.tools:
            return None  # the plain per-action deadline
        chunks = 0 if call.name == "read_page" else self.settings.max_chunks
        return self.settings.action_deadline_s * (1 + chunks)

    async def _run(self, call: ToolCall) -> ActionResult:
        """Dispatch through the tools' registries: reading tools look, actions act and settle."""
        assert self.actions is not None and self.reader is not None
        reading = self.reader.tools
        if call.name in reading:
            try:
                return await reading.call(call.name, call.arguments)
            except BadToolArguments as error:
                return ActionResult(f"Did not run {call.name}.", error=error.reason)
        return await self.actions.run(call.name, call.arguments)

    def _messages(
        self, instruction: str, ctx: StepContext, seen: Observation, log: list[str]
    ) -> list[Message]:
        history = prompts.HISTORY.format(lines="\n".join(log)) if log else ""
        text = prompts.STEP.format(
            task=ctx.task.strip()[:2000],
            instruction=instruction.strip(),
            history=history,
            observation=seen.text,
        )
        content: list[ContentPart] = [text]
        if self.vision and seen.screenshot is not None:
            content.append(_image(seen))
        return [system(prompts.SYSTEM), user(content)]

    def _record(
        self,
        ctx: StepContext,
        call: ToolCall,
        result: ActionResult,
        seen: Observation,
        duration_ms: float,
    ) -> None:
        attachments = []
        if seen.screenshot is not None:
            ext = seen.screenshot.mime.split("/")[-1].replace("jpeg", "jpg")
            attachments.append(
                Attachment(
                    name=f"web-r{ctx.round}-{call.name}.{ext}",
                    data=seen.screenshot.data,
                    mime=seen.screenshot.mime,
                )
            )
        ctx.acted(
            self.name,
            call.name,
            dict(call.arguments),
            f"{result.summary} -> {seen.state.title or seen.state.url}",
            error=result.error,
            duration_ms=duration_ms,
            attachments=attachments,
        )

    def _reply(
        self,
        words: str | None,
        seen: Observation,
        files: list[Path],
        content: list[str],
        log: list[str],
        *,
        answered: bool,
    ) -> AgentReply:
        parts: list[str] = []
        if log:
            parts.append("\n".join(log))
        parts += content
        if words:
            parts.append(words)
        if answered:
            parts.append(f"(Browser at: {seen.state.title or '(no title)'} - {seen.state.url})")
        else:
            page = render(
                seen.state,
                tabs=[],
                notes=self.guard.notes if self.guard else [],  # dialogs, downloads, stops
                budget=self.settings.observation_chars,
                max_elements=0,
                elements=False,
            )
            parts.append("The browser now shows:\n" + page)
        if files:
            parts.append("Files saved in the workspace: " + ", ".join(f.name for f in files))
        images = [_image(seen)] if self.vision and seen.screenshot is not None else []
        return AgentReply(text="\n\n".join(parts), images=images, files=files)


def _verb(call: ToolCall) -> str:
    return call.name.replace("_", " ")


def _log_line(result: ActionResult, seen: Observation) -> str:
    line = f"- {result.summary}"
    if result.error:
        line += f" Error: {result.error}."
    return line + f" Now at: {seen.state.title or seen.state.url}"


def _image(seen: Observation) -> ImagePart:
    shot = seen.screenshot
    assert shot is not None
    return ImagePart(shot.data, mime=shot.mime, width=shot.width, height=shot.height)
