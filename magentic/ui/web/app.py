"""The web view's server: Starlette pages, files and server-sent events, on 127.0.0.1 or a
Unix socket, behind the door's lock (`door`: host, key and cookie, origin, peer).

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
from magentic.ui.web.door import KEY_PARAM, Door, Guard
from magentic.ui.web.listen import bind_tcp, bind_unix
from magentic.ui.web.steering import MAX_BODY, WebSteering
from magentic.ui.web.store import (
    RESULTS,
    Library,
    judge,
    read_events,
    read_results,
    run_summary,
    summarize,
)
from magentic.ui.web.streams import Streams, merge_deltas

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


SteeringFor = Callable[[str], "WebSteering | None"]


def _no_steering(run_id: str) -> WebSteering | None:
    return None


@functools.lru_cache(maxsize=1)
def _follow_js() -> bytes:
    """The pages' one script, read when first asked for (no I/O at import time)."""
    return (Path(__file__).parent / "static" / "follow.js").read_bytes()


def build_app(
    library: Library,
    door: Door,
    *,
    check_peer: bool = True,
    poll_s: float = POLL_S,
    streams: Streams | None = None,
    steering: SteeringFor = _no_steering,
) -> Guard:
    """The ASGI app serving `library`'s runs and benches behind `door`; `steering` gives
    the steering face of a run this process runs (by run id), if any. `check_peer`: refuse
    TCP clients of other users (see `door.Guard`)."""
    streams = streams or Streams()

    def steer_of(folder: Path) -> WebSteering | None:
        """The steering face of the run in `folder`: only the run's own folder, right under
        a root and named by its run id (never a folder elsewhere that borrows the name)."""
        if folder.parent not in library.roots:
            return None
        steer = steering(folder.name)
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
        folder = library.run_folder(ref)
        if folder is None:
            return _missing(f"the run {ref}")
        chunk = await asyncio.to_thread(read_events, library.trace_of(folder))
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
        """A command from the run page (the door has checked host, session and origin)."""
        ref = request.path_params["ref"]
        folder = library.run_folder(ref)
        steer = steer_of(folder) if folder is not None else None
        if steer is None:
            return JSONResponse({"error": "this view does not steer that run"}, 404, _HEADERS)
        if not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse(
                {"error": "a command is a JSON object (Content-Type: application/json)"},
                415,
                _HEADERS,
            )
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "the command is too large"}, 413, _HEADERS)
        try:
            command = steer.take(body, session=request.state.session)
        except ControlError as error:
            return JSONResponse({"error": error.reason}, 400, _HEADERS)
        panel = {"html": steer.panel(ref), "key": steer.key()}
        return JSONResponse({"ok": command.kind, "panel": panel}, headers=_HEADERS)

    async def bench(request: Request) -> Response:
        ref = request.path_params["ref"]
        folder = library.bench_folder(ref)
        if folder is None:
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
        folder = library.run_folder(ref) if what == "run" else library.bench_folder(ref)
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

    app = Starlette(
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
    return Guard(app, door, check_peer=check_peer)


def _run_ref(library: Library, folder: Path, record: dict[str, Any]) -> str | None:
    trace = record.get("trace_path")
    if not trace:
        return None
    path = Path(trace)
    path = path if path.is_absolute() else folder / path
    ref = library.ref_of(path.parent)
    return ref if ref is not None and library.run_folder(ref) is not None else None


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
    path = folder / "trace.jsonl"
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


class WebView:
    """The view served by uvicorn inside the caller's event loop (`magentic ui`, or beside a
    run with `--ui`). Signals stay with the caller: uvicorn does not take SIGINT/SIGTERM.

    It listens on 127.0.0.1 (`port`) or on a Unix socket (`socket_path`), and opens only
    with its key: print `link()` once for the person, never put it in a page."""

    def __init__(
        self,
        roots: list[Path],
        port: int = 0,
        *,
        poll_s: float = POLL_S,
        socket_path: Path | None = None,
    ) -> None:
        import uvicorn

        class _Server(uvicorn.Server):
            def capture_signals(self) -> Any:  # the caller's stopping rules hold
                return contextlib.nullcontext()

        self.library = Library(roots)
        self.streams = Streams()  # subscribe `streams.push` to a run's bus to show its text
        self.steering: WebSteering | None = None  # see `steer`
        self.socket_path = Path(socket_path).absolute() if socket_path is not None else None
        if self.socket_path is not None:
            self.socket = bind_unix(self.socket_path)
            self.port = 0
            self.door = Door(None)  # reached through a tunnel: any loopback name and port
        else:
            self.socket = bind_tcp(port)
            self.port = self.socket.getsockname()[1]
            self.door = Door((f"127.0.0.1:{self.port}", f"localhost:{self.port}"))
        config = uvicorn.Config(
            build_app(
                self.library,
                self.door,
                check_peer=self.socket_path is None,  # a socket's file mode decides
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
        """The view's address (locked: see `link`)."""
        return "http://localhost/" if self.socket_path else f"http://127.0.0.1:{self.port}/"

    @property
    def key(self) -> str:
        return self.door.key

    @property
    def cookie(self) -> str:
        """The name of the session cookie the key sets."""
        return self.door.cookie

    def link(self, path: str = "") -> str:
        """The address of `path` with the key: what the person opens first (say it once)."""
        return f"{self.url}{path.lstrip('/')}?{KEY_PARAM}={self.door.key}"

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
        if self.socket_path is not None:
            with contextlib.suppress(OSError):
                self.socket_path.unlink()

    async def serve_until_stopped(self) -> None:
        if self._task is None:
            await self.start()
        try:
            assert self._task is not None
            await self._task
        finally:
            await self.stop()
