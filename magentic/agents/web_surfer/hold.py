"""The session-wide hold: what a page sends on its own waits for the `[approval]` gate, for
the whole life of the browser context, between actions as much as during them.

A page acts without us: a timer posts, a scroll listener posts, a beacon goes out, a script
sends the tab to another site, a server redirects it there. Checking only while an action
runs lets all of that through the moment the action ends (or during `sleep`, which touches
nothing). So the hold is put on the context when it is created and stays on:

- **Every request that is not GET, HEAD or OPTIONS** (POST, PUT, PATCH, DELETE), of every
  resource type (a form submission, fetch, XHR, a beacon or ping) and to any site, passes a
  context route that waits for the gate's word.
- **Every top-level navigation to a new site** waits too, each redirect hop included. A
  Playwright route never sees redirect hops (measured on 1.65: it continues them itself), so
  each tab's own CDP session intercepts its top-level documents (`Fetch.enable`, Document
  requests), which pauses every hop, the final address included. Our own tabs are watched
  before they load anything. A popup's first request comes before Playwright knows its tab:
  the route checks that hop, but a redirect of it is not seen (interception turned on later
  does not apply to a request already under way).
- **Service workers** are refused on the context (`service_workers="block"`, browser.py):
  their own requests would pass neither the route nor the tab's interception.

What to do with each held request is `WebApprovals`' to decide (approval.py): it knows the
rules, the action under way, the sites seen. Without it (a session no agent watches)
everything goes. Routing turns Chromium's HTTP cache off for the context; the benchmark
`approval_overhead.py` measures what that costs an action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from playwright.async_api import BrowserContext, CDPSession, Page, Request, Route
from playwright.async_api import Error as PlaywrightError

if TYPE_CHECKING:  # browser.py builds on this module; the session is only held here
    from magentic.agents.web_surfer.browser import BrowserSession

log = logging.getLogger(__name__)

# Methods that only read: everything else may change something on a server.
READING = frozenset({"GET", "HEAD", "OPTIONS"})
_DOCUMENTS = {"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}


class SessionHold:
    """The route and the per-tab interception of one browser session."""

    def __init__(self, session: BrowserSession) -> None:
        self.session = session
        self.watched: set[Page] = set()  # tabs whose top-level documents are intercepted
        self._tasks: set[asyncio.Task[None]] = set()

    async def install(self, context: BrowserContext) -> None:
        """On a new context, before any page exists."""
        self.watched = set()
        await context.route("**/*", self._route)

    async def watch(self, page: Page, cdp: CDPSession, main_frame: str) -> None:
        """Intercept the tab's top-level documents, redirect hops included."""
        if page in self.watched:
            return
        cdp.on(
            "Fetch.requestPaused",
            lambda event: self._spawn(self._paused(cdp, main_frame, page, event)),
        )
        await cdp.send("Fetch.enable", {"patterns": [_DOCUMENTS]})
        self.watched.add(page)

    def forget(self, page: Page) -> None:
        self.watched.discard(page)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _paused(
        self, cdp: CDPSession, main_frame: str, page: Page, event: dict[str, Any]
    ) -> None:
        allowed = True
        approvals = self.session.approvals
        try:
            if approvals is not None and event.get("frameId") == main_frame:
                url = str(event.get("request", {}).get("url", ""))
                redirect = bool(event.get("redirectedRequestId"))
                allowed = await approvals.navigation(page, url, redirect=redirect)
        except Exception:  # a fault of ours must not let the request through, nor hang it
            log.exception("the navigation hold failed")
            allowed = False
        request = {"requestId": event["requestId"]}
        with contextlib.suppress(PlaywrightError):
            if allowed:
                await cdp.send("Fetch.continueRequest", request)
            else:  # "Aborted": the tab stays on its page, no error page
                await cdp.send("Fetch.failRequest", {**request, "errorReason": "Aborted"})

    async def _route(self, route: Route, request: Request) -> None:
        allowed = True
        try:
            if self.session.approvals is not None:
                allowed = await self._judge(request)
        except Exception:
            log.exception("the request hold failed")
            allowed = False
        finally:
            with contextlib.suppress(PlaywrightError):
                if not allowed:
                    await route.abort("aborted")
                elif self.session.approvals is not None:  # a POST goes once (effects.py)
                    await self.session.approvals.let_through(route, request)
                else:
                    await route.fallback()

    async def _judge(self, request: Request) -> bool:
        approvals = self.session.approvals
        assert approvals is not None
        try:
            page: Page | None = request.frame.page
        except PlaywrightError:  # no frame yet: a worker's request, or a popup's first one
            page = None
        if request.method.upper() not in READING:
            return await approvals.request(page, request)
        if page is None and request.resource_type == "document" and not request.redirected_from:
            # A popup's first document, before its tab (and so its interception) exists:
            # this hop is checked here; a redirect of it is not seen (README says so).
            return await approvals.navigation(None, request.url, redirect=False)
        return True
