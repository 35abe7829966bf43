"""The FileSurfer: a model that reads local files through the paged FileViewer.

Each step the model sees the instruction, what may be read and the page the viewer shows,
and picks one viewer action (a tool call) or answers in words. The action's result, the
viewer's new page with its header, is the reply: the orchestrator and the other agents see
exactly the text the FileSurfer saw. A bad path or a broken file is an observation in that
reply, never an exception; only the model failing ends a step with an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from magentic.agents import file_prompts as prompts
from magentic.agents.base import AgentReply, BaseAgent, StepContext
from magentic.agents.file_settings import FileSurferSettings
from magentic.agents.file_viewer import FileViewer, View
from magentic.agents.file_zipguard import ZipLimits
from magentic.agents.media.surfer import Look, MediaLooks
from magentic.agents.media.transcript import Transcriber
from magentic.llm.client import ModelClient
from magentic.llm.messages import ImagePart, Message, ToolCall, ToolSpec, assistant, system, user
from magentic.text import escape_surrogates


def _tool(name: str, description: str, properties: dict[str, Any] | None = None) -> ToolSpec:
    properties = properties or {}
    required = [key for key, spec in properties.items() if not spec.pop("optional", False)]
    return ToolSpec(
        name,
        description,
        {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
    )


TOOLS: list[ToolSpec] = [
    _tool(
        "open_path",
        prompts.OPEN_PATH,
        {"path": {"type": "string", "description": prompts.PATH_ARG}},
    ),
    _tool("page_down", prompts.PAGE_DOWN),
    _tool("page_up", prompts.PAGE_UP),
    _tool(
        "go_to_page",
        prompts.GO_TO_PAGE,
        {"page": {"type": "integer", "minimum": 1, "description": prompts.PAGE_ARG}},
    ),
    _tool(
        "find_on_page",
        prompts.FIND,
        {"query": {"type": "string", "minLength": 1, "description": prompts.QUERY_ARG}},
    ),
    _tool("find_next", prompts.FIND_NEXT),
    _tool(
        "list_directory",
        prompts.LIST_DIRECTORY,
        {"path": {"type": "string", "description": prompts.FOLDER_ARG, "optional": True}},
    ),
    _tool(
        "zoom",
        prompts.ZOOM,
        {"region": {"type": "string", "minLength": 1, "description": prompts.REGION_ARG}},
    ),
    _tool(
        "view_frame",
        prompts.VIEW_FRAME,
        {"seconds": {"type": "number", "minimum": 0, "description": prompts.SECONDS_ARG}},
    ),
    _tool("next_frame", prompts.NEXT_FRAME),
]

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
    ) -> None:
        self.client = client
        self.settings = settings or FileSurferSettings()
        self.media = MediaLooks(
            Transcriber(transcribe_client),
            vision=lambda: self.client.settings.vision,
            archive_limits=ZipLimits(
                max_total_bytes=int(self.settings.max_unpacked_mb * 1024 * 1024),
                max_ratio=self.settings.max_zip_ratio,
            ),
        )
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
        self._actions: dict[str, Callable[[dict[str, Any]], Awaitable[View]]] = {
            "open_path": lambda a: self._open(str(a.get("path", ""))),
            "page_down": lambda a: self._now(self.viewer.page_down()),
            "page_up": lambda a: self._now(self.viewer.page_up()),
            "go_to_page": lambda a: self._now(self.viewer.go_to_page(int(a.get("page", 0)))),
            # a search scans the whole text: a big file would stall the event loop
            "find_on_page": lambda a: asyncio.to_thread(self.viewer.find, str(a.get("query", ""))),
            "find_next": lambda a: self._now(self.viewer.find_next()),
            "list_directory": lambda a: self.viewer.list_directory(a.get("path")),
        }
        self._looks: dict[str, Callable[[dict[str, Any]], Awaitable[Look]]] = {
            "zoom": lambda a: self.media.zoom(self.viewer.document, str(a.get("region", ""))),
            "view_frame": lambda a: self.media.frame(
                self.viewer.document, float(a.get("seconds", 0))
            ),
            "next_frame": lambda a: self.media.next_frame(self.viewer.document),
        }

    async def _open(self, raw: str) -> View:
        """Open a file; an audio or video file also gets its transcript (cached)."""
        view = await self.viewer.open(raw)
        document = self.viewer.document
        if view.ok and document is not None:
            self.media.opened(document)
            extended = await self.media.with_transcript(document)
            extended = extended or await self.media.with_members(document)
            if extended is not None:
                return self.viewer.show_document(extended)
        return view

    @staticmethod
    async def _now(view: View) -> View:
        return view

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        """One viewer action chosen by the model, or the model's answer in words."""
        # The run's workspace and the task's files are readable whatever the constructor got.
        self.viewer.roots.add([ctx.workspace, *ctx.files])
        self.media.transcriber.cache_dir = ctx.workspace / ".magentic-media"
        self.media.extract_root = ctx.workspace / ".magentic-media" / "unpacked"
        left = ctx.seconds_left()
        limit = self.settings.conversion_timeout_s
        self.viewer.conversion_timeout_s = limit if left is None else max(1.0, min(limit, left))
        self.viewer.converter.warm_up()  # the worker starts while the model chooses
        choice = await self.client.choose_tool(self._messages(instruction, ctx), TOOLS)
        if isinstance(choice, str):
            ctx.acted(self.name, "answer", {}, choice[:500])
            return AgentReply(choice)
        return await self._act(choice, ctx)

    async def _act(self, call: ToolCall, ctx: StepContext) -> AgentReply:
        started = time.perf_counter()
        action = self._actions.get(call.name)
        look = self._looks.get(call.name)
        images: list[ImagePart] = []
        if look is not None:
            seen = await look(call.arguments)
            view, images = View(seen.text, ok=seen.ok), seen.images
        elif action is None:  # the client validates names; this guards a changed tool list
            view = View(f"There is no tool {call.name!r}.", ok=False)
        else:
            view = await action(call.arguments)
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
        opened_image = call.name == "open_path" and view.ok
        if opened_image:
            images = await self._open_image()
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
                messages.append(user(f"{entry.source}: {text}"))
        files = ", ".join(str(f) for f in ctx.files)
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
        """Stop the conversion worker process."""
        await self.viewer.close()
