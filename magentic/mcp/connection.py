"""One connection to one MCP server, owned by a task of its own.

Why a task of its own: the SDK's session and transports are anyio context managers that
must be entered and left by the same task, while a run calls tools from whichever task its
step runs in (the orchestrator bounds steps with `asyncio.wait_for`, which makes new tasks
on Python < 3.12). So one owner task enters the transport and the session, signals ready,
and waits to be told to close; calls are sent from any task.

Every way a server can fail becomes an `McpError` with one readable reason, never a hang:
a start that fails or takes too long, a call past its time limit, a server process that
ends mid-call (seen at once, not at the time limit), a reply too large, a malformed reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from magentic.errors import MagenticError
from magentic.mcp import procs
from magentic.mcp.settings import McpServerSettings
from magentic.text import clip

if TYPE_CHECKING:  # the SDK loads only when a server starts (it is an optional extra)
    from magentic.mcp.stdio import ServerProcess

log = logging.getLogger(__name__)

_CLOSE_S = 8.0  # the owner task's own shutdown (grace, TERM, KILL) takes about 2 s at most
_SCHEMA_CHARS = 8000  # a tool schema larger than this is not sent to the model
_DESCRIPTION_CHARS = 1000


class McpError(MagenticError):
    """An MCP server did not start, ended, timed out, or answered something unusable."""


class McpAddressRefused(McpError):
    """The URL policy (`[mcp.url_policy]`) does not let us reach an HTTP server's address:
    the fix is in that table, not in the server's own."""


@dataclass(frozen=True)
class RemoteTool:
    """A tool as the server lists it (description and schema bounded)."""

    name: str
    description: str
    schema: dict[str, Any]
    # The server says the tool only reads (readOnlyHint) and does not destroy: approved by
    # the `mcp_read_only` rule rather than `mcp_tool`.
    read_only: bool = False


@dataclass(frozen=True)
class CallResult:
    text: str  # bounded, ready for a model
    is_error: bool  # the tool itself reported a failure


class McpConnection:
    def __init__(
        self,
        name: str,
        settings: McpServerSettings,
        check_url: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        # Why an HTTP server's address may not be reached, or None: the caller's URL policy.
        self.check_url = check_url
        self.process: ServerProcess | None = None
        self.tools: list[RemoteTool] = []
        self._session: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._failure: str | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self._session is not None and not self._down()

    # Lifecycle -------------------------------------------------------------------------
    async def start(self, timeout_s: float | None = None) -> list[RemoteTool]:
        """Connect (starting the process for stdio) and list the tools; McpError if not."""
        timeout = self.settings.start_timeout_s if timeout_s is None else timeout_s
        if self.settings.command is not None:
            await procs.sweep_once()  # what a killed run left, before we start more
        if self.settings.url is not None and self.check_url is not None:
            refused = await self.check_url(self.settings.url)
            if refused is not None:
                raise McpAddressRefused(
                    f"MCP server {self.name} is not allowed by the URL policy: {refused}"
                )
        ready: asyncio.Future[list[RemoteTool]] = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._own(ready))
        try:
            waits: set[asyncio.Future[Any]] = {ready, self._task}
            done, _ = await asyncio.wait(
                waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if ready in done:
                self.tools = ready.result()
                return self.tools
            if not done:
                raise McpError(f"MCP server {self.name} did not start within {timeout:g} s")
            raise McpError(f"MCP server {self.name} could not start: {self._failure}")
        except McpError as error:
            await self.close()
            raise McpError(error.reason + self._last_words()) from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """End the session and the server; its process group is killed whatever happens."""
        self._closing.set()
        task = self._task
        if task is not None and not task.done() and self._session is None:
            task.cancel()  # still starting (a server that never answers): no clean goodbye
        try:
            if task is not None and not task.done():
                # asyncio.wait, not wait_for: the owner's own end (cancelled, failed) is no
                # error of ours; only our caller's cancellation propagates from here.
                _, pending = await asyncio.wait({task}, timeout=_CLOSE_S)
                if pending:
                    task.cancel()
                    await asyncio.wait({task}, timeout=_CLOSE_S)
        except BaseException:  # our own caller was cancelled: still end the server
            if task is not None:
                task.cancel()
            raise
        finally:
            self._kill()
        if self.process is not None:
            await procs.wait_gone(self.process.pid)

    def _kill(self) -> None:
        if self.process is not None:
            procs.kill_group(self.process.pid)

    async def _own(self, ready: asyncio.Future[list[RemoteTool]]) -> None:
        from mcp import ClientSession

        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                tools = await self._list_tools(session)
                self._session = session
                if not ready.done():
                    ready.set_result(tools)
                await self._closing.wait()
        except Exception as error:  # any failure of the server is a reason, never a crash
            self._failure = describe(error)
            log.debug("MCP server %s ended: %s", self.name, self._failure, exc_info=True)
        finally:
            self._session = None

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any]]:
        if self.settings.command is not None:
            from magentic.mcp.stdio import stdio_transport

            started: asyncio.Future[ServerProcess] = asyncio.get_running_loop().create_future()
            started.add_done_callback(lambda f: setattr(self, "process", f.result()))
            async with stdio_transport(self.settings, started) as streams:
                yield streams
            return
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert self.settings.url is not None
        client = httpx2.AsyncClient(
            headers=self.settings.headers, timeout=httpx2.Timeout(30.0, read=300.0)
        )
        async with (
            client,
            streamable_http_client(
                self.settings.url,
                http_client=client,
                max_sse_event_size=self.settings.max_message_bytes,
            ) as (read, write),
        ):
            yield read, write

    async def _list_tools(self, session: Any) -> list[RemoteTool]:
        found: list[RemoteTool] = []
        cursor = None
        for _ in range(20):  # pages; a server that pages forever is cut off
            from mcp_types import PaginatedRequestParams

            params = PaginatedRequestParams(cursor=cursor) if cursor else None
            listing = await session.list_tools(params=params)
            for item in listing.tools:
                if self.settings.offers(item.name):
                    found.append(_remote_tool(item))
            cursor = listing.next_cursor
            if not cursor:
                break
        return found

    # Calls -----------------------------------------------------------------------------
    async def call(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> CallResult:
        """One tool call, bounded by `timeout_s`; McpError for anything but a result."""
        session = self._session
        if session is None or self._down():
            why = self.why_down()
            raise McpError(f"MCP server {self.name} is not running ({why})")
        sent = asyncio.ensure_future(session.call_tool(tool, arguments))
        gone = asyncio.ensure_future(self._gone())
        try:
            done, _ = await asyncio.wait(
                {sent, gone}, timeout=max(timeout_s, 0.001), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for pending in (sent, gone):
                if not pending.done():
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
        if sent in done:
            try:
                result = sent.result()
            except Exception as error:
                if await self._ended_soon():  # "connection closed": say why it closed
                    raise McpError(f"{self.name}.{tool} got no answer: {self.why_down()}") from None
                root = _root(error)
                if isinstance(root, ValidationError):
                    raise McpError(
                        f"{self.name}.{tool} answered with a malformed result "
                        f"({root.error_count()} problems, e.g. {_first_problem(root)})"
                    ) from None
                raise McpError(f"{self.name}.{tool} failed: {describe(error)}") from None
            return render_result(result, self.settings.max_output_chars)
        if gone in done:
            raise McpError(f"{self.name}.{tool} got no answer: {self.why_down()}")
        raise McpError(f"{self.name}.{tool} gave no answer within {timeout_s:g} s")

    async def _ended_soon(self) -> bool:
        """Whether the server's output ended (then waiting a moment for its exit code)."""
        if self.process is None or not self.process.ended.is_set():
            return False
        from magentic.mcp.stdio import exited

        await exited(self.process.process, 0.5)
        return True

    def _down(self) -> bool:
        ended = self.process is not None and self.process.ended.is_set()
        return ended or self._task is None or self._task.done()

    def why_down(self) -> str:
        if self.process is not None and self.process.ended.is_set():
            return self.process.why_ended()
        return self._failure or "the connection was closed"

    async def _gone(self) -> None:
        """Returns when the server can no longer answer: its process or connection ended."""
        assert self._task is not None
        waits: list[asyncio.Future[Any]] = [self._task]
        if self.process is not None:
            waits.append(asyncio.ensure_future(self.process.ended.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for extra in waits[1:]:
                extra.cancel()

    def _last_words(self) -> str:
        if self.process is None or not self.process.stderr_tail:
            return ""
        tail = " | ".join(line for line in self.process.stderr_tail if line)
        return f" (its stderr ends: {tail[-400:]})" if tail else ""


def _remote_tool(item: Any) -> RemoteTool:
    schema = item.input_schema if isinstance(item.input_schema, dict) else {}
    if len(json.dumps(schema, default=str)) > _SCHEMA_CHARS:
        schema = {"type": "object"}  # too large to send with every call: any arguments
    schema = {**schema, "type": "object"}
    description = clip((item.description or "").strip(), _DESCRIPTION_CHARS)
    hints = getattr(item, "annotations", None)
    read_only = bool(getattr(hints, "read_only_hint", False)) and not bool(
        getattr(hints, "destructive_hint", False)
    )
    return RemoteTool(item.name, description, schema, read_only)


def render_result(result: Any, limit: int) -> CallResult:
    """A tool's content blocks as bounded text; binary content is named, not shown."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {block.uri} {block.name or ''}]".strip())
        elif kind == "resource":
            inner = block.resource
            text = getattr(inner, "text", None)
            parts.append(text if text is not None else f"[binary resource {inner.uri}]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False, default=str))
    text = "\n".join(parts) if parts else "(the tool returned nothing)"
    return CallResult(clip(text, limit), bool(getattr(result, "is_error", False)))


def _first_problem(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(p) for p in item.get("loc", ())) or "result"
    return f"{where}: {item.get('msg', 'invalid')}"


def _root(error: BaseException) -> BaseException:
    """The first real cause inside exception groups (no builtin group type on 3.10)."""
    inner = getattr(error, "exceptions", None)
    while isinstance(inner, tuple) and inner:
        error = inner[0]
        inner = getattr(error, "exceptions", None)
    return error


def describe(error: BaseException) -> str:
    """One line for an error, looking inside exception groups for the first real cause."""
    error = _root(error)
    if isinstance(error, MagenticError):
        return error.reason
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    name = type(error).__name__
    if name == "MCPError" and first:  # the SDK's error for a JSON-RPC error reply: its words
        return clip(first, 500)
    return clip(f"{name}: {first}" if first else name, 500)
