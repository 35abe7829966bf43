"""The FileSurfer: a model that reads local files through the paged FileViewer.

Each step the model sees the instruction, what may be read and the page the viewer shows,
and picks one viewer action (a tool call) or answers in words. The action's result, the
viewer's new page with its header, is the reply: the orchestrator and the other agents see
exactly the text the FileSurfer saw. A bad path or a broken file is an observation in that
reply, never an exception; only the model failing ends a step with an error.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from magentic import safe_paths
from magentic.agents import file_prompts as prompts
from magentic.agents.base import AgentReply, BaseAgent, StepContext
from magentic.agents.file_settings import FileSurferSettings
from magentic.agents.file_viewer import FileViewer, View
from magentic.agents.file_zipguard import ZipLimits
from magentic.agents.media.surfer import Look, MediaLooks
from magentic.agents.media.transcript import Transcriber
from magentic.agents.tools import (
    BadToolArguments,
    ToolArgs,
    ToolRegistry,
    UnknownTool,
    specs_of,
    tool,
)
from magentic.llm.client import ModelClient
from magentic.llm.messages import ImagePart, Message, ToolCall, ToolSpec, assistant, system, user
from magentic.safe_fs import private_dir
from magentic.text import escape_surrogates


class _Args(ToolArgs):
    model_config = ConfigDict(extra="forbid")  # the schema says so, and the model is told


class _Path(_Args):
    path: str = Field(description=prompts.PATH_ARG)


class _Page(_Args):
    page: int = Field(ge=1, description=prompts.PAGE_ARG)


class _Query(_Args):
    query: str = Field(min_length=1, description=prompts.QUERY_ARG)


class _Folder(_Args):
    path: str | None = Field(default=None, description=prompts.FOLDER_ARG)


class _None(_Args):
    pass


class _Region(_Args):
    region: str = Field(min_length=1, description=prompts.REGION_ARG)


class _Moment(_Args):
    seconds: float = Field(ge=0, description=prompts.SECONDS_ARG)


# After these a scanned PDF page's image goes along for a vision model.
_PAGE_MOVES = {"open_path", "page_down", "page_up", "go_to_page", "find_on_page", "find_next"}


_IMAGE_MIMES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


class FileSurfer(BaseAgent):
    name = "FileSurfer"
    description = prompts.DESCRIPTION

    def __init__(
        self,
        client: ModelClient,
        roots: list[Path] | tuple[Path, ...] = (),
        settings: FileSurferSettings | None = None,
        transcribe_client: ModelClient | None = None,
        scratch: Path | None = None,
    ) -> None:
        self.client = client
        # Host-side caches and unpacked archives: a run-private folder the sandbox cannot
        # reach (never the workspace, where sandbox code could plant links); without one,
        # a private temporary folder removed at close.
        self.scratch = scratch
        self._own_scratch: Path | None = None
        self.settings = settings or FileSurferSettings()
        self.media = MediaLooks(
            Transcriber(transcribe_client),
            vision=lambda: self.client.settings.vision,
            archive_limits=ZipLimits(
                max_total_bytes=int(self.settings.max_unpacked_mb * 1024 * 1024),
                max_ratio=self.settings.max_zip_ratio,
            ),
        )
        self._seen: list[ImagePart] = []  # images the last media tool produced
        s = self.settings
        self.viewer = FileViewer(
            roots,
            page_tokens=s.page_tokens,
            max_file_mb=s.max_file_mb,
            context_chars=s.find_context_chars,
            max_listed_hits=s.max_listed_hits,
            conversion_timeout_s=s.conversion_timeout_s,
            conversion_memory_mb=s.conversion_memory_mb,
            zip_limits=ZipLimits(
                max_total_bytes=int(s.max_unpacked_mb * 1024 * 1024), max_ratio=s.max_zip_ratio
            ),
        )
        self.tools: ToolRegistry[View] = ToolRegistry.of(self)

    # Tools: each a viewer action ---------------------------------------------------------
    @tool("open_path", prompts.OPEN_PATH)
    async def open_path(self, a: _Path) -> View:
        """Open a file; audio and video also get their transcript, archives their members."""
        view = await self.viewer.open(a.path)
        document = self.viewer.document
        if view.ok and document is not None:
            self.media.opened(document)
            extended = await self.media.with_transcript(document)
            if extended is None:
                extended = await self.media.with_members(document)
                if extended is not None and self.media.extract_root is not None:
                    self.viewer.roots.add([self.media.extract_root])  # its members: readable
            if extended is not None:
                return self.viewer.show_document(extended)
        return view

    @tool("page_down", prompts.PAGE_DOWN)
    async def page_down(self, a: _None) -> View:
        return self.viewer.page_down()

    @tool("page_up", prompts.PAGE_UP)
    async def page_up(self, a: _None) -> View:
        return self.viewer.page_up()

    @tool("go_to_page", prompts.GO_TO_PAGE)
    async def go_to_page(self, a: _Page) -> View:
        return self.viewer.go_to_page(a.page)

    @tool("find_on_page", prompts.FIND)
    async def find_on_page(self, a: _Query) -> View:
        # a search scans the whole text: a big file would stall the event loop
        return await asyncio.to_thread(self.viewer.find, a.query)

    @tool("find_next", prompts.FIND_NEXT)
    async def find_next(self, a: _None) -> View:
        return self.viewer.find_next()

    @tool("list_directory", prompts.LIST_DIRECTORY)
    async def list_directory(self, a: _Folder) -> View:
        return await self.viewer.list_directory(a.path)

    @tool("zoom", prompts.ZOOM)
    async def zoom(self, a: _Region) -> View:
        return self._look(await self.media.zoom(self.viewer.document, a.region))

    @tool("view_frame", prompts.VIEW_FRAME)
    async def view_frame(self, a: _Moment) -> View:
        return self._look(await self.media.frame(self.viewer.document, a.seconds))

    @tool("next_frame", prompts.NEXT_FRAME)
    async def next_frame(self, a: _None) -> View:
        return self._look(await self.media.next_frame(self.viewer.document))

    def _look(self, seen: Look) -> View:
        self._seen = seen.images
        return View(seen.text, ok=seen.ok)

    async def _bind(self, ctx: StepContext) -> None:
        """The run's workspace, the task's files and the unpacked archives are readable
        whatever the constructor got; media caches live in the private scratch folder."""
        self.viewer.roots.add([ctx.workspace, *ctx.files])
        if self.media.extract_root is None:
            scratch = await asyncio.to_thread(self._scratch)
            self.media.transcriber.cache_dir = scratch / "transcripts"
            self.media.extract_root = scratch / "unpacked"
            if await asyncio.to_thread(self.media.extract_root.is_dir):  # a resumed run's
                self.viewer.roots.add([self.media.extract_root])

    def _scratch(self) -> Path:
        if self.scratch is not None:
            return private_dir(self.scratch)
        if self._own_scratch is None:
            self._own_scratch = Path(tempfile.mkdtemp(prefix="magentic-files-"))
        return self._own_scratch

    async def snapshot(self) -> dict[str, Any]:
        """The open file (or folder), its page, and the search in it, if any."""
        viewer = self.viewer
        if viewer.document is None:
            return {}
        state: dict[str, Any] = {"path": str(viewer.document.path), "page": viewer.page + 1}
        search = viewer.search
        if search is not None:
            state.update(query=search.query, hit=search.index)
        return state

    async def restore(self, state: dict[str, Any], ctx: StepContext) -> None:
        """Open the file again (from the conversion cache when it is there), at its page."""
        path = state.get("path")
        if not path:
            return
        await self._bind(ctx)
        # The checkpoint is data: reopen only a path inside the run's workspace or one of
        # its attached files, reached through no link.
        allowed = await asyncio.to_thread(
            safe_paths.within, str(path), [ctx.workspace], list(ctx.files)
        )
        if allowed is None:
            raise RuntimeError(
                f"did not reopen {path}: not inside the run's workspace or attached files, "
                "or reached through a symbolic link"
            )
        view = await self.open_path(_Path(path=str(allowed)))
        if not view.ok:
            raise RuntimeError(f"could not reopen {path}: {view.text[:200]}")
        if state.get("query"):
            await asyncio.to_thread(self.viewer.find, str(state["query"]))
            self.viewer.resume_search(int(state.get("hit", 0)))
        self.viewer.go_to_page(int(state.get("page", 1)))

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        """One viewer action chosen by the model, or the model's answer in words."""
        await self._bind(ctx)
        left = ctx.seconds_left()
        limit = self.settings.conversion_timeout_s
        self.viewer.conversion_timeout_s = limit if left is None else max(1.0, min(limit, left))
        self.viewer.converter.warm_up()  # the worker starts while the model chooses
        choice = await self.client.choose_tool(self._messages(instruction, ctx), self.tools.specs())
        if isinstance(choice, str):
            ctx.acted(self.name, "answer", {}, choice[:500])
            return AgentReply(choice)
        return await self._act(choice, ctx)

    async def _act(self, call: ToolCall, ctx: StepContext) -> AgentReply:
        started = time.perf_counter()
        self._seen = []
        try:
            view = await self.tools.call(call.name, call.arguments)
        except (UnknownTool, BadToolArguments) as error:  # the handler did not run
            view = View(f"Did not run {call.name}: {error.reason}.", ok=False)
        ctx.acted(
            self.name,
            call.name,
            call.arguments,
            view.text[:500],
            error=None if view.ok else view.text.split("\n", 1)[0][:300],
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        args = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
        text = f"I called {call.name}({args}).\n\n{view.text}"
        images, self._seen = self._seen, []
        if call.name == "open_path" and view.ok:
            images += await self._open_image()
            images += await self.media.key_frames_image(self.viewer.document)
        if view.ok and call.name in _PAGE_MOVES and self.viewer.pages:
            span = self.viewer.pages[self.viewer.page]
            images += await self.media.scanned_page_images(self.viewer.document, span)
        return AgentReply(text, images=images)

    async def _open_image(self) -> list[ImagePart]:
        """The image file just opened, so a vision model down the line can look at it."""
        doc = self.viewer.document
        if doc is None or not self.client.settings.vision:
            return []
        mime = _IMAGE_MIMES.get(doc.path.suffix.lower())
        if mime is None or doc.size > self.settings.max_image_mb * 1024 * 1024:
            return []
        try:
            return [ImagePart(await asyncio.to_thread(doc.path.read_bytes), mime=mime)]
        except OSError:
            return []

    def _messages(self, instruction: str, ctx: StepContext) -> list[Message]:
        s = self.settings
        messages = [system(prompts.SYSTEM)]
        history = list(ctx.conversation)[-s.history_messages :] if s.history_messages else []
        if history:
            messages.append(user(prompts.HISTORY_NOTE))
        for entry in history:
            text = (
                entry.text
                if len(entry.text) <= s.history_chars
                else entry.text[: s.history_chars] + " [...]"
            )
            if entry.source == self.name:
                messages.append(assistant(text))
            else:
                messages.append(user(entry.for_prompt(text)))  # relayed text fenced as data
        files = ", ".join(_as_opened(f, ctx.workspace) for f in ctx.files)
        messages.append(
            user(
                escape_surrogates(
                    prompts.STEP.format(
                        instruction=instruction,
                        roots=self.viewer.roots.describe(),
                        files_line=prompts.FILES_LINE.format(files=files) if files else "",
                        state=self.viewer.state,
                        view=self.viewer.render() if self.viewer.document else prompts.NO_VIEW,
                    )
                )
            )
        )
        return messages

    async def reset(self) -> None:
        """Forget the open file and the search (a replan starts reading afresh)."""
        self.viewer.reset()

    async def close(self) -> None:
        """Stop the conversion worker process; remove a temporary scratch folder."""
        await self.viewer.close()
        if self._own_scratch is not None:
            await asyncio.to_thread(shutil.rmtree, self._own_scratch, True)
            self._own_scratch = None


def _as_opened(path: Path, workspace: Path) -> str:
    """A file's path as the viewer opens it: its name in the workspace when it lies there
    (relative names are looked up in the workspace), else its absolute path; never a path
    relative to the folder the person started in, which the viewer knows nothing of."""
    full = Path(os.path.abspath(path))
    try:
        return full.relative_to(os.path.abspath(workspace)).as_posix()
    except ValueError:
        return str(full)


# The tools as the model sees them (for listings and size checks; dispatch uses the instance).
TOOLS: list[ToolSpec] = specs_of(FileSurfer)
