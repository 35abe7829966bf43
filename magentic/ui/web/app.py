"""The web view's server: Starlette pages, files and server-sent events, on 127.0.0.1 only.

A run or bench page is rendered from what its file holds when it is asked for, and names
the byte offset it stopped at; its script then follows `/follow/...?offset=N`, which sends
each whole line added after that point as an escaped HTML fragment. So a page opened mid-run
catches up at once and keeps up, and a finished run's stream ends with an `end` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from magentic.control.channel import ControlChannel
from magentic.errors import ConfigError, ControlError
from magentic.ui.web import pages
from magentic.ui.web.steering import MAX_BODY, WebSteering
from magentic.ui.web.store import (
    RESULTS,
    TRACE,
    Library,
    judge,
    read_events,
    read_results,
    run_summary,
    summarize,
)

POLL_S = 0.25  # how often a followed file is checked for new lines
_HEARTBEAT_S = 15.0
_LIVENESS_POLLS = 8  # a followed run silent this many polls has its process checked
_HEADERS = {
    # Run text is hostile: no inline script, nothing from elsewhere, no sniffing.
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


def _missing(what: str) -> HTMLResponse:
    return _html(pages.page("not found", f"<p>{pages.esc(what)} was not found.</p>"), 404)


def _sse(name: str, data: dict[str, Any], offset: int) -> str:
    return f"id: {offset}\nevent: {name}\ndata: {json.dumps(data)}\n\n"


class Streams:
    """Streamed model text of runs in this process (`run --ui`), which the trace never holds:
    `push` takes a run's `ModelDelta` events, and each follower of that run gets them."""

    def __init__(self) -> None:
        self._queues: dict[str, list[asyncio.Queue[dict[str, Any]]]] = {}

    def push(self, event: Any) -> None:
        """A bus subscriber; only model deltas are taken."""
        if event.kind != "model_delta":
            return
        for queue in self._queues.get(event.run_id, []):
            if queue.qsize() < 1000:  # a reader that stopped reading loses text, not memory
                queue.put_nowait({"role": event.role, "text": event.text, "chars": event.chars})

    def open(self, run_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queues.setdefault(run_id, []).append(queue)
        return queue

    def close(self, run_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        queues = self._queues.get(run_id, [])
        if queue in queues:
            queues.remove(queue)
        if not queues:
            self._queues.pop(run_id, None)


SteeringFor = Callable[[str], "WebSteering | None"]


def _no_steering(run_id: str) -> WebSteering | None:
    return None


@functools.lru_cache(maxsize=1)
def _follow_js() -> bytes:
    """The pages' one script, read when first asked for (no I/O at import time)."""
    return (Path(__file__).parent / "static" / "follow.js").read_bytes()


def build_app(
    library: Library,
    *,
    poll_s: float = POLL_S,
    streams: Streams | None = None,
    steering: SteeringFor = _no_steering,
) -> Starlette:
    """The ASGI app serving `library`'s runs and benches; `steering` gives the steering
    face of a run this process runs (by run id), if any."""
    streams = streams or Streams()

    def steer_of(folder: Path) -> WebSteering | None:
        steer = steering(folder.name)  # the run folder is named by its run id
        return steer if steer is not None and steer.steers(folder.name) else None

    async def index(request: Request) -> Response:
        runs = []
        for ref in await asyncio.to_thread(library.runs):
            folder = library.folder(ref)
            if folder is None:
                continue
            runs.append(await asyncio.to_thread(run_summary, ref, folder))
        return _html(pages.index_page(runs, await asyncio.to_thread(library.benches)))

    async def run(request: Request) -> Response:
        ref = request.path_params["ref"]
        folder = library.folder(ref)
        if folder is None or not (folder / TRACE).is_file():
            return _missing(f"the run {ref}")
        chunk = await asyncio.to_thread(read_events, folder / TRACE)
        summary = await asyncio.to_thread(judge, summarize(ref, chunk.items), folder)
        steer = steer_of(folder)
        page = pages.run_page(
            ref,
            summary,
            chunk.items,
            chunk.unreadable,
            chunk.offset,
            partial=chunk.partial,
            steer=steer.panel(ref) if steer is not None else "",
        )
        return _html(page)

    async def control(request: Request) -> Response:
        ref = request.path_params["ref"]
        folder = library.folder(ref)
        steer = steer_of(folder) if folder is not None else None
        if steer is None:
            return JSONResponse({"error": "this view does not steer that run"}, 404, _HEADERS)
        origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
        refused = steer.allowed(request.headers, origin)
        if refused:
            return JSONResponse({"error": refused}, 403, _HEADERS)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "the command is too large"}, 413, _HEADERS)
        try:
            command = steer.take(body)
        except ControlError as error:
            return JSONResponse({"error": error.reason}, 400, _HEADERS)
        panel = {"html": steer.panel(ref), "key": steer.key()}
        return JSONResponse({"ok": command.kind, "panel": panel}, headers=_HEADERS)

    async def bench(request: Request) -> Response:
        ref = request.path_params["ref"]
        folder = library.folder(ref)
        if folder is None or not (folder / RESULTS).is_file():
            return _missing(f"the bench {ref}")
        chunk = await asyncio.to_thread(read_results, folder / RESULTS)
        rows = [pages.result_row(r, _run_ref(library, folder, r)) for r in chunk.items]
        body = pages.bench_page(ref, rows, chunk.items, chunk.unreadable, chunk.offset)
        return _html(body)

    async def file(request: Request) -> Response:
        ref, _, rel = request.path_params["path"].partition("/attachments/")
        path = library.file(ref, f"attachments/{rel}") if rel else None
        if path is None or path.suffix.lower() not in _IMAGE_TYPES:
            return _missing("that file")
        return FileResponse(path, media_type=_IMAGE_TYPES[path.suffix.lower()], headers=_HEADERS)

    async def follow(request: Request) -> Response:
        what, ref = request.path_params["what"], request.path_params["ref"]
        folder = library.folder(ref)
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            offset = 0
        if folder is None or what not in ("run", "bench"):
            return _missing(f"the {what} {ref}")
        stream = (
            _follow_run(ref, folder, offset, poll_s, streams, steer_of(folder))
            if what == "run"
            else _follow_bench(library, folder, offset, poll_s)
        )
        headers = {**_HEADERS, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def script(request: Request) -> Response:
        return Response(_follow_js(), media_type="text/javascript", headers=_HEADERS)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/run/{ref:path}", run),
            Route("/bench/{ref:path}", bench),
            Route("/file/{path:path}", file),
            Route("/follow/{what}/{ref:path}", follow),
            Route("/control/{ref:path}", control, methods=["POST"]),
            Route("/static/follow.js", script),
        ]
    )


def _run_ref(library: Library, folder: Path, record: dict[str, Any]) -> str | None:
    trace = record.get("trace_path")
    if not trace:
        return None
    path = Path(trace)
    path = path if path.is_absolute() else folder / path
    return library.ref_of(path.parent) if path.is_file() else None


async def _follow_run(
    ref: str,
    folder: Path,
    offset: int,
    poll_s: float,
    streams: Streams,
    steer: WebSteering | None = None,
) -> Any:
    queue = streams.open(folder.name)  # the run folder is named by its run id
    try:
        async for message in _follow_trace(ref, folder, offset, poll_s, queue, steer):
            yield message
    finally:
        streams.close(folder.name, queue)


async def _follow_trace(
    ref: str,
    folder: Path,
    offset: int,
    poll_s: float,
    queue: asyncio.Queue[dict[str, Any]],
    steer: WebSteering | None = None,
) -> Any:
    """One turn every `poll_s`: the streamed text gathered since the last turn (merged into
    as few messages as it allows), then the trace's new lines. A message per delta, each
    waking the loop for another read of the trace, cost more than the rest of the view."""
    path = folder / TRACE
    shown_key = ""  # the steering panel last sent (the page compares it with its own)
    # What the page already shows, for the status line; what follows is sent below.
    before = (await asyncio.to_thread(read_events, path, 0, offset)).items
    idle, quiet = 0.0, 0
    while True:
        # Text first: the trace line that ends its call comes after it, and clears it.
        for delta in merge_deltas(_drain(queue)):
            yield _sse("delta", delta, offset)
        chunk = await asyncio.to_thread(read_events, path, offset)
        if chunk.items:
            offset = chunk.offset
            before.extend(chunk.items)
            html = "".join(pages.event_html(ref, item) for item in chunk.items)
            status = pages.status_html(summarize(ref, before))
            yield _sse("append", {"html": html, "status": status}, offset)
            idle, quiet = 0.0, 0
        if steer is not None and steer.key() != shown_key:
            shown_key = steer.key()
            yield _sse("steer", {"html": steer.panel(ref), "key": shown_key}, offset)
        if any(getattr(i, "kind", "") == "run_finished" for i in chunk.items) or (
            not chunk.items and before and getattr(before[-1], "kind", "") == "run_finished"
        ):
            yield _sse("end", {}, offset)
            return
        quiet += 1
        if quiet >= _LIVENESS_POLLS:  # silent a while: is its process still there?
            quiet = 0
            summary = await asyncio.to_thread(judge, summarize(ref, before), folder)
            if summary.status != "running":  # it died: say so, and stop following
                yield _sse("append", {"html": "", "status": pages.status_html(summary)}, offset)
                yield _sse("end", {}, offset)
                return
        idle += poll_s
        if idle >= _HEARTBEAT_S:  # a comment line: finds a reader that went away
            yield ": still here\n\n"
            idle = 0.0
        await asyncio.sleep(poll_s)


def _drain(queue: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def merge_deltas(deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive deltas of one call as one: same role, and the later one not the start of
    a new call (a delta whose `chars` equals its own length starts one)."""
    merged: list[dict[str, Any]] = []
    for delta in deltas:
        last = merged[-1] if merged else None
        fresh = delta["chars"] == len(delta["text"])
        if last is not None and last["role"] == delta["role"] and not fresh:
            last["text"] += delta["text"]
            last["chars"] = delta["chars"]
        else:
            merged.append(dict(delta))
    return merged


async def _follow_bench(library: Library, folder: Path, offset: int, poll_s: float) -> Any:
    path = folder / RESULTS
    records = (await asyncio.to_thread(read_results, path)).items
    idle = 0.0
    while True:
        chunk = await asyncio.to_thread(read_results, path, offset)
        if chunk.items:
            offset = chunk.offset
            records = (await asyncio.to_thread(read_results, path)).items
            html = "".join(pages.result_row(r, _run_ref(library, folder, r)) for r in chunk.items)
            yield _sse("append", {"html": html, "accuracy": pages.accuracy_html(records)}, offset)
            idle = 0.0
        await asyncio.sleep(poll_s)
        idle += poll_s
        if idle >= _HEARTBEAT_S:
            yield ": still here\n\n"
            idle = 0.0


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: any free one), or a one-line ConfigError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"cannot serve on 127.0.0.1:{port} ({error.strerror or error}): "
            "is another program using it? Choose another with --port"
        ) from None
    sock.listen(64)
    sock.setblocking(False)
    return sock


class WebView:
    """The view served by uvicorn inside the caller's event loop (`magentic ui`, or beside a
    run with `--ui`). Signals stay with the caller: uvicorn does not take SIGINT/SIGTERM."""

    def __init__(self, roots: list[Path], port: int = 0, *, poll_s: float = POLL_S) -> None:
        import uvicorn

        class _Server(uvicorn.Server):
            def capture_signals(self) -> Any:  # the caller's stopping rules hold
                return contextlib.nullcontext()

        self.library = Library(roots)
        self.streams = Streams()  # subscribe `streams.push` to a run's bus to show its text
        self.steering: WebSteering | None = None  # see `steer`
        self.socket = bind(port)
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            build_app(
                self.library,
                poll_s=poll_s,
                streams=self.streams,
                steering=lambda run_id: self.steering,
            ),
            log_level="error",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    def steer(self, control: ControlChannel) -> WebSteering:
        """Be a face on this run's channel while serving (subscribe the result's `push` to
        the run's bus); `stop` detaches it."""
        self.steering = WebSteering(control)
        self.steering.attach()
        return self.steering

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> str:
        """Serve in the background; returns the URL once the server accepts connections."""
        self._task = asyncio.create_task(self.server.serve(sockets=[self.socket]))
        while not self.server.started:
            if self._task.done():  # it failed to start: say why
                self._task.result()
                raise ConfigError(f"the web view could not start on {self.url}")
            await asyncio.sleep(0.01)
        return self.url

    async def stop(self) -> None:
        """Stop at once. uvicorn's own shutdown ticks and pauses (about 0.2 s), which would
        add to every `--ui` run; the view owes its readers nothing on the way out, so their
        connections are closed (an open event stream sees a disconnect and ends cleanly)."""
        if self.steering is not None:
            self.steering.detach()
        if self._task is None:
            return
        self.server.should_exit = True
        self.server.force_exit = True
        for server in self.server.servers:
            server.close()
        for connection in list(self.server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        requests = list(self.server.server_state.tasks)
        if requests:  # their streams see the disconnect on the next turns of the loop
            await asyncio.wait(requests, timeout=1.0)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self.socket.close()

    async def serve_until_stopped(self) -> None:
        if self._task is None:
            await self.start()
        try:
            assert self._task is not None
            await self._task
        finally:
            await self.stop()
