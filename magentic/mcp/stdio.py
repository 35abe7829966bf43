"""The stdio transport: an MCP server as a child process, bounded on every side.

The SDK has its own stdio client; ours differs where a hostile or broken server matters:
- the child is a keeper (`launcher.py`) that runs the server: it dies with us even on a
  `kill -9` and takes the server's whole tree with it; it runs in a session of its own,
  its pid is the process group killed on close and by the exit hook, and in a cgroup of
  its own where we may make one (`procs`, `cgroups`, `leftovers`);
- one line (one JSON-RPC message) is capped: past `max_message_bytes` the line is dropped
  and, when its request id can be read from its head, the waiting call gets an error
  saying so, while the server stays usable;
- a line that is not JSON-RPC (a server printing logs to stdout) is skipped and counted;
- stderr is never shown: the last few lines are kept to explain an exit or a failed start.

It yields the two anyio streams the SDK's `ClientSession` takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import sys
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from magentic.mcp import cgroups, leftovers, procs
from magentic.mcp.settings import McpServerSettings

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_GRACE_S = 1.0  # after stdin closes, before SIGTERM; and again before SIGKILL
_ID_HEAD = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})')
# Only what a server needs to run; secrets of the run are not handed to it.
_INHERITED_ENV = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TMPDIR")
_LAUNCHER = str(Path(__file__).with_name("launcher.py"))


@dataclass
class ServerProcess:
    """What is known of a running (or ended) stdio server."""

    pid: int
    process: asyncio.subprocess.Process
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    skipped_lines: int = 0
    oversized: int = 0
    # Set when its stdout ends (it exited, or closed it): calls waiting on it fail at once.
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def why_ended(self) -> str:
        code = self.returncode
        if code is None:
            how = "it closed its output"
        else:
            how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
        tail = " | ".join(line for line in list(self.stderr_tail)[-4:] if line)[-400:]
        return f"the server process ended ({how})" + (f"; its last words: {tail}" if tail else "")


def server_env(settings: McpServerSettings) -> dict[str, str]:
    base = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
    return {**base, **settings.inherited_env(), **settings.env}


@contextlib.asynccontextmanager
async def stdio_transport(
    settings: McpServerSettings, started: asyncio.Future[ServerProcess] | None = None
) -> AsyncIterator[tuple[object, object]]:
    """Start the server; yield (read_stream, write_stream); kill its group on the way out."""
    assert settings.command is not None
    token = secrets.token_hex(8)
    cgroup = await asyncio.to_thread(cgroups.make, token)
    # Started from the event loop's thread, which lives as long as the run: the keeper's
    # PR_SET_PDEATHSIG follows the thread that forked it.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        _LAUNCHER,
        str(os.getpid()),
        str(cgroup) if cgroup else "-",
        "--",
        settings.command,
        *settings.args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**server_env(settings), leftovers.TOKEN_VAR: token},
        cwd=settings.cwd,
        start_new_session=True,  # its pid is its process group: killed whole
    )
    await asyncio.to_thread(procs.track, proc.pid, token, cgroup)
    info = ServerProcess(pid=proc.pid, process=proc)
    if started is not None and not started.done():
        started.set_result(info)
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](16)
    tasks: list[asyncio.Task[None]] = []
    try:
        tasks = [
            asyncio.ensure_future(_read_stdout(proc, info, settings.max_message_bytes, read_send)),
            asyncio.ensure_future(_read_stderr(proc, info)),
            asyncio.ensure_future(_write_stdin(proc, write_recv)),
        ]
        yield read_recv, write_send
    finally:
        await asyncio.shield(_stop(proc, info, tasks))
        for stream in (read_send, read_recv, write_send, write_recv):
            stream.close()


async def _read_stdout(
    proc: asyncio.subprocess.Process,
    info: ServerProcess,
    cap: int,
    out: MemoryObjectSendStream[SessionMessage | Exception],
) -> None:
    assert proc.stdout is not None
    buffer = bytearray()
    dropping = False  # inside a line past the cap: discard until its newline
    head = b""
    try:
        while chunk := await proc.stdout.read(_CHUNK):
            while chunk:
                end = chunk.find(b"\n")
                piece, chunk = (chunk, b"") if end < 0 else (chunk[:end], chunk[end + 1 :])
                if not dropping:
                    buffer += piece
                    if len(buffer) > cap:
                        head, dropping = bytes(buffer[:400]), True
                        buffer.clear()
                if end < 0:
                    continue
                if dropping:
                    dropping = False
                    info.oversized += 1
                    await _oversized(head, cap, out)
                elif buffer.strip():
                    await _deliver(bytes(buffer), info, out)
                buffer.clear()
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, ConnectionError):
        pass
    finally:
        info.ended.set()
        out.close()  # the session sees the connection end


async def _deliver(
    line: bytes, info: ServerProcess, out: MemoryObjectSendStream[SessionMessage | Exception]
) -> None:
    try:
        message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValueError:
        info.skipped_lines += 1  # not JSON-RPC: a log line printed to stdout, say
        log.debug("MCP server %d: skipped a line that is not JSON-RPC", info.pid)
        return
    await out.send(SessionMessage(message))


async def _oversized(
    head: bytes, cap: int, out: MemoryObjectSendStream[SessionMessage | Exception]
) -> None:
    """Answer the request a too-large message was for, if its id is readable."""
    found = _ID_HEAD.search(head)
    if found is None:
        return
    raw = found.group(1).decode("utf-8", "replace")
    request_id: str | int = raw[1:-1] if raw.startswith('"') else int(raw)
    error = types.ErrorData(
        code=-32000, message=f"the server's reply was larger than {cap} bytes and was dropped"
    )
    await out.send(SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)))


async def _read_stderr(proc: asyncio.subprocess.Process, info: ServerProcess) -> None:
    assert proc.stderr is not None
    partial = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await proc.stderr.read(_CHUNK):
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()[-400:]
            for line in lines[-20:]:
                info.stderr_tail.append(line[-400:].decode("utf-8", "replace").strip())
        if partial:
            info.stderr_tail.append(partial.decode("utf-8", "replace").strip())


async def _write_stdin(
    proc: asyncio.subprocess.Process, messages: MemoryObjectReceiveStream[SessionMessage]
) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError, ConnectionError):
        async for item in messages:
            data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
            proc.stdin.write(data.encode("utf-8") + b"\n")
            await proc.stdin.drain()


async def _stop(
    proc: asyncio.subprocess.Process, info: ServerProcess, tasks: list[asyncio.Task[None]]
) -> None:
    """Close stdin, give the server a moment, then TERM and KILL its whole group."""
    try:
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
        if not await exited(proc, _GRACE_S):
            procs.kill_group(proc.pid, signal.SIGTERM)
            if not await exited(proc, _GRACE_S):
                procs.kill_group(proc.pid)
                await exited(proc, _GRACE_S)
    finally:
        procs.kill_group(proc.pid)  # the leader may be gone and its children not
        await asyncio.to_thread(procs.end, proc.pid)  # its cgroup, and its record
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def exited(proc: asyncio.subprocess.Process, seconds: float) -> bool:
    """Whether the process ended within `seconds`. Polls the return code: `proc.wait()`
    also waits for the pipes, which a child left behind may hold open."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while proc.returncode is None:
        if loop.time() >= until:
            return False
        await asyncio.sleep(0.02)
    return True
