"""The browser's lifecycle: one Chromium per process, one context per task, and its tabs.

Launching Chromium and opening a context cost about half a second each, so a `BrowserPool`
launches once and every task gets a fresh `BrowserSession` (its own context: cookies,
storage, tabs, downloads, and a proxy that enforces its URL policy). The session follows
popups and new tabs, answers JavaScript dialogs, saves downloads to the task's workspace,
and brings a crashed page or a dead browser back; each of these leaves a note that the
next observation reports to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Dialog,
    Download,
    Page,
    Playwright,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from magentic import safe_fs
from magentic.agents.web_surfer.downloads import Downloads
from magentic.agents.web_surfer.hold import SessionHold
from magentic.agents.web_surfer.holds import Holds
from magentic.agents.web_surfer.limits import ActionLimits
from magentic.agents.web_surfer.locate import find_chromium
from magentic.agents.web_surfer.proxy import PolicyProxy
from magentic.agents.web_surfer.sandbox_user import SandboxPlan, prepare
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.agents.web_surfer.settle import CLOCK_INIT_SCRIPT
from magentic.agents.web_surfer.url_policy import DEFAULT_PORTS, UrlPolicy
from magentic.errors import BrowserError

if TYPE_CHECKING:  # approval.py builds on this module; a session only holds its instance
    from magentic.agents.web_surfer.approval import WebApprovals

log = logging.getLogger(__name__)

# Quiet on a closed network: without these Chromium keeps calling home for updates,
# field trials, sync and safe browsing lists.
LAUNCH_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
    "OptimizationGuideModelDownloading,DialMediaRouteProvider",
    "--disable-dev-shm-usage",
    "--password-store=basic",
    # WebRTC may send UDP only through a proxy, and ours carries none: no STUN or TURN
    # packets slip past the URL policy.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
]
# Playwright turns Chromium's popup blocker off; we keep it, so a page can open a popup only
# from a click (one per click), never in a loop on its own.
KEEP_DEFAULTS_OFF = ["--disable-popup-blocking"]


def first_line(error: BaseException) -> str:
    """Playwright errors carry a call log; the model and the person need its first line."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return re.sub(r"^\w+\.\w+: ", "", line)[:300]


class BrowserPool:
    """One Chromium process shared by every WebSurfer of this process (or benchmark worker)."""

    def __init__(self, settings: WebSurferSettings | None = None) -> None:
        self.settings = settings or WebSurferSettings()
        self.executable: str | None = None
        self.launches = 0
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._lock = asyncio.Lock()
        # Chromium's working folder: the sandbox wrapper and Playwright's in-flight downloads.
        self.workdir: Path | None = None
        self.sandbox = "not started"  # "on", or "off: <why>" (for doctor and the log)
        self.plan: SandboxPlan | None = None

    @property
    def downloads_path(self) -> Path | None:
        """Where Chromium writes downloads while they stream (before they are saved)."""
        return self.workdir / "downloads" if self.workdir is not None else None

    async def browser(self) -> Browser:
        """The running browser, launched (again, after a crash) when needed."""
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            s = self.settings
            if not s.headless and not os.environ.get("DISPLAY"):
                raise BrowserError(
                    "headed mode needs a display: run under `xvfb-run -a` or set DISPLAY"
                )
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            managed = self._playwright.chromium.executable_path
            self.executable = find_chromium(s.executable_path, managed=managed)
            if self.workdir is None:
                self.workdir = Path(tempfile.mkdtemp(prefix="magentic-chromium-"))
            downloads = self.workdir / "downloads"
            downloads.mkdir(exist_ok=True)
            plan = prepare(self.executable, s.sandbox_user, self.workdir, headless=s.headless)
            plan.hand_over(downloads)
            try:
                self._browser = await self._launch(plan, downloads)
            except BrowserError as error:
                if plan.no_sandbox:
                    raise
                plan = SandboxPlan(self.executable, True, f"it did not start with it: {error}")
                self._browser = await self._launch(plan, downloads)
            if plan.no_sandbox and not self.sandbox.startswith("off"):
                log.warning("Chromium runs without its sandbox: %s", plan.reason)
            self.sandbox = f"off: {plan.reason}" if plan.no_sandbox else "on"
            self.plan = plan
            self.launches += 1
            return self._browser

    async def _launch(self, plan: SandboxPlan, downloads: Path) -> Browser:
        assert self._playwright is not None
        s = self.settings
        args = list(LAUNCH_ARGS)
        if plan.no_sandbox:
            args.append("--no-sandbox")  # Chromium refuses to start as root otherwise
        try:
            return await self._playwright.chromium.launch(
                executable_path=plan.executable,
                headless=s.headless,
                slow_mo=s.slow_mo_ms or None,
                args=args,
                ignore_default_args=KEEP_DEFAULTS_OFF,
                chromium_sandbox=not plan.no_sandbox,  # Playwright's default is no sandbox
                downloads_path=downloads,
                timeout=60_000,
            )
        except PlaywrightError as error:
            raise BrowserError(
                f"Chromium at {self.executable} did not start: {first_line(error)}"
            ) from None

    def shared_copy(self, file: Path, workspace: Path | None = None) -> Path:
        """A private copy of `file` for Chromium to upload, handed to Chromium's user when it
        runs as another. A file inside `workspace` is read through `safe_fs`: sandbox code
        may have swapped it for a link to a host file since it was chosen, and that file
        must not go to a web site. Blocking: call it in a thread."""
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.workdir))
        copy = folder / file.name
        if workspace is not None and file.is_relative_to(workspace):
            source = safe_fs.open_read(workspace, safe_fs.relative_to(file, workspace))
        else:  # a file the person attached, outside the workspace
            source = safe_fs.open_nofollow(file)
        with source, safe_fs.create(folder, file.name, mode=0o600) as out:
            shutil.copyfileobj(source, out, 1 << 20)
        if self.plan is not None and self.plan.uid is not None:
            self.plan.hand_over(folder)
            self.plan.hand_over(copy)
        return copy

    async def new_context(self, **options: Any) -> BrowserContext:
        browser = await self.browser()
        try:
            return await browser.new_context(**options)
        except PlaywrightError as error:
            if browser.is_connected():
                raise BrowserError(
                    f"could not open a browser context: {first_line(error)}"
                ) from None
            browser = await self.browser()  # it died under us: one relaunch
            return await browser.new_context(**options)

    async def close(self) -> None:
        async with self._lock:
            if self._browser is not None:
                with contextlib.suppress(Exception):
                    await self._browser.close()
                self._browser = None
            if self._playwright is not None:
                with contextlib.suppress(Exception):
                    await self._playwright.stop()
                self._playwright = None
            if self.workdir is not None:
                await asyncio.to_thread(shutil.rmtree, self.workdir, True)
                self.workdir = None


class BrowserSession:
    """One task's browser context: tabs, the active page, downloads, dialogs, recovery."""

    def __init__(
        self,
        pool: BrowserPool,
        settings: WebSurferSettings,
        *,
        downloads_dir: Path,
        policy: UrlPolicy | None = None,
        hold: bool = True,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.downloads_dir = Path(downloads_dir)
        self.policy = policy or UrlPolicy(settings.url_policy)
        self.proxy = PolicyProxy(self.policy)
        self.context: BrowserContext | None = None
        self.tabs: list[Page] = []
        self.active: Page | None = None
        self.notes: list[str] = []
        self.downloaded: list[Path] = []
        self._cdp: dict[Page, CDPSession] = {}
        self._cdp_opening: dict[Page, asyncio.Future[CDPSession]] = {}
        self._main_frames: dict[Page, str] = {}
        self._crashed: set[Page] = set()
        self._own_pages = 0  # pages we are opening ourselves (not popups)
        self._downloads: set[asyncio.Task[None]] = set()
        self._snapshot: tuple[list[str], int] = ([], 0)
        # Popups announced by a page (window.open, target=_blank) and popups that arrived.
        self.window_opens = 0
        self.popups = 0
        self._popup_arrived = asyncio.Event()
        self.limits = ActionLimits(settings.max_dialogs_per_action, settings.max_popups_per_action)
        self.downloads = Downloads(self, settings)
        # The approval gate's side (approval.py), set by the agent; none: nothing is asked.
        self.approvals: WebApprovals | None = None
        # Decisions the page waits on (a held POST, a download): the clocks stop meanwhile.
        self.holds = Holds()
        # What the page sends on its own waits for the gate, for the session's whole life
        # (hold.py). Off only for a measurement of what it costs (the benchmark).
        self.hold = SessionHold(self) if hold else None

    # Lifecycle ---------------------------------------------------------------------------
    async def start(
        self,
        urls: list[str] | None = None,
        active_index: int = 0,
        storage_state: dict[str, Any] | None = None,
    ) -> None:
        """Open the context; a resumed run gives the tabs to reopen and the cookies and
        local storage (Playwright's storage state) its last checkpoint saw."""
        if self.context is not None:
            return
        await self.proxy.start()
        await self._open_context(urls or [], active_index, storage_state)

    async def state(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """The tabs' URLs, the active tab and the storage state, for a checkpoint; empty
        when there is no live context (a dead browser has nothing worth keeping)."""
        if self.context is None or not self.browser_alive():
            return {}
        storage = await asyncio.wait_for(self.context.storage_state(), timeout_s)
        tabs = [_resumable(p.url) for p in self.tabs]
        return {"tabs": tabs, "active": max(self.tab_index() - 1, 0), "storage": storage}

    async def _open_context(
        self, urls: list[str], active_index: int, storage_state: dict[str, Any] | None = None
    ) -> None:
        s = self.settings
        options: dict[str, Any] = {
            "viewport": {"width": s.viewport_width, "height": s.viewport_height},
            "locale": s.locale,
            "accept_downloads": True,
            # "<-loopback>": send 127.0.0.1 and localhost through the proxy too.
            "proxy": {"server": self.proxy.url, "bypass": "<-loopback>"},
            # A service worker's own requests pass neither the hold's route nor a tab's
            # interception (hold.py): none may register.
            "service_workers": "block",
        }
        if s.user_agent:
            options["user_agent"] = s.user_agent
        if storage_state:
            options["storage_state"] = storage_state
        self.context = await self.pool.new_context(**options)
        self.context.set_default_timeout(s.action_timeout_s * 1000)
        self.context.set_default_navigation_timeout(s.navigation_timeout_s * 1000)
        self.context.on("page", self._on_page)
        if self.hold is not None:
            await self.hold.install(self.context)
        await self.context.add_init_script(CLOCK_INIT_SCRIPT)
        self.tabs, self._cdp, self._crashed = [], {}, set()
        for url in urls or ["about:blank"]:
            page = await self.new_page()
            if url != "about:blank":
                with contextlib.suppress(PlaywrightError):
                    await page.goto(url, wait_until="domcontentloaded")
        self.active = self.tabs[min(active_index, len(self.tabs) - 1)]

    async def close(self) -> None:
        for task in list(self._downloads):
            task.cancel()
        if self.context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.context.close(), 10)
            self.context = None
        await self.downloads.close()
        await self.proxy.close()

    # Pages and tabs ----------------------------------------------------------------------
    async def new_page(self) -> Page:
        """A tab we open ourselves; it becomes the active one."""
        if self.context is None:
            raise BrowserError("the browser session is not started")
        self._own_pages += 1
        try:
            page = await self.context.new_page()
        finally:
            self._own_pages -= 1
        self._adopt(page)
        if self.hold is not None:  # its navigations are held from the first one on
            await self.cdp(page)
        self.active = page
        return page

    def _on_page(self, page: Page) -> None:
        popup = self._own_pages == 0 and page not in self.tabs
        if popup and not self.limits.popup():  # past this action's allowance: closed at once
            self.popups += 1
            self._popup_arrived.set()
            _close_soon(page)
            return
        self._adopt(page)
        if popup:
            self.popups += 1
            self._popup_arrived.set()
            self.active = page
            self.notes.append(
                f"A new tab opened (tab {self.tabs.index(page) + 1}) and is now active."
            )

    def _adopt(self, page: Page) -> None:
        if page in self.tabs:
            return
        self.tabs.append(page)
        page.on("dialog", self._on_dialog)
        page.on("download", self._on_download)
        page.on("crash", lambda p: self._crashed.add(p))
        page.on("close", self._on_close)
        page.on("response", self.downloads.on_response)
        if self._own_pages == 0:  # a popup: watch its downloads (the size cap) from the start
            opening = asyncio.ensure_future(self.cdp(page))
            opening.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _on_close(self, page: Page) -> None:
        if page in self.tabs:
            self.tabs.remove(page)
        self._cdp.pop(page, None)
        if self.hold is not None:
            self.hold.forget(page)
        self._crashed.discard(page)
        if self.active is page:
            self.active = self.tabs[-1] if self.tabs else None

    def tab_index(self, page: Page | None = None) -> int:
        page = page or self.active
        return self.tabs.index(page) + 1 if page in self.tabs else 0

    async def switch_tab(self, number: int) -> Page:
        page = self.tabs[number - 1]
        self.active = page
        with contextlib.suppress(PlaywrightError):
            await page.bring_to_front()
        return page

    async def close_tab(self, number: int) -> None:
        page = self.tabs[number - 1]
        await page.close()
        if not self.tabs:
            await self.new_page()

    async def cdp(self, page: Page) -> CDPSession:
        """The tab's own CDP session (one per tab, opened once, however many ask at once)."""
        session = self._cdp.get(page)
        if session is not None:
            return session
        opening = self._cdp_opening.get(page)
        if opening is None:
            opening = self._cdp_opening[page] = asyncio.ensure_future(self._open_cdp(page))
            opening.add_done_callback(lambda _: self._cdp_opening.pop(page, None))
        return await asyncio.shield(opening)

    async def _open_cdp(self, page: Page) -> CDPSession:
        if self.context is None:
            raise BrowserError("the browser session is not started")
        session = await self.context.new_cdp_session(page)
        # Page.windowOpen says a popup is coming before Playwright has a Page for it.
        session.on("Page.windowOpen", self._on_window_open)
        self.downloads.watch(session)
        await session.send("Page.enable")
        tree = await session.send("Page.getFrameTree")
        self._main_frames[page] = tree["frameTree"]["frame"]["id"]
        if self.hold is not None:
            await self.hold.watch(page, session, self._main_frames[page])
        self._cdp[page] = session
        return session

    def main_frame_id(self, page: Page) -> str | None:
        return self._main_frames.get(page)

    def _on_window_open(self, params: dict[str, Any]) -> None:
        # Without a click Chromium's popup blocker stops it: nothing will arrive to wait for.
        if params.get("userGesture"):
            self.window_opens += 1
        else:
            self.limits.blocked_popup()

    async def wait_popups(self, count: int, timeout_s: float) -> bool:
        """Wait (bounded) until `count` popups have arrived in all."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while self.popups < count:
            left = end - loop.time()
            if left <= 0:
                return False
            self._popup_arrived.clear()
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._popup_arrived.wait(), left)
        return True

    # Events ------------------------------------------------------------------------------
    async def _on_dialog(self, dialog: Dialog) -> None:
        report = self.limits.dialog()
        accept = self.settings.dialogs == "accept" or dialog.type == "beforeunload"
        try:
            if accept:
                await dialog.accept(dialog.default_value if dialog.type == "prompt" else None)
            else:
                await dialog.dismiss()
        except PlaywrightError:
            return
        what = "accepted" if accept else "dismissed"
        if report:  # the same dialog again and again is reported once
            self._note(f"A {dialog.type} dialog said {dialog.message[:300]!r}; it was {what}.")

    def _on_download(self, download: Download) -> None:
        task = asyncio.ensure_future(self.downloads.save(download))
        self._downloads.add(task)
        task.add_done_callback(self._downloads.discard)

    async def wait_downloads(self, timeout_s: float) -> None:
        """Let downloads that started during an action finish (bounded) before reporting."""
        if self._downloads:
            await asyncio.wait(list(self._downloads), timeout=timeout_s)

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def take_notes(self) -> list[str]:
        """What happened since the last observation: dialogs, popups, downloads, recoveries."""
        notes, self.notes = self.notes, []
        return notes[:8]

    def explain(self, url: str) -> str | None:
        """Why the proxy refused or could not carry a request for `url`, if it did."""
        parts = urlsplit(url)
        if not parts.hostname:
            return None
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        host = parts.hostname
        tunnel = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        for event in reversed(self.proxy.events):
            if event.target in (url, tunnel):
                what = "was blocked by the URL policy" if event.blocked else "could not be loaded"
                return f"{url[:200]} {what}: {event.reason}."
        return None

    # Recovery ----------------------------------------------------------------------------
    def browser_alive(self) -> bool:
        browser = self.context.browser if self.context is not None else None
        return browser is not None and browser.is_connected()

    async def ready_page(self) -> Page:
        """The active page, after bringing back a crashed page or a dead browser."""
        if self.context is None:
            await self.start()
        elif not self.browser_alive():
            # The pages closed with the browser; reopen what the last snapshot saw.
            urls, index = self._snapshot
            await self._open_context(urls or ["about:blank"], index)
            self.notes.append("The browser had crashed; it was restarted and the tabs reloaded.")
        elif self.active is not None and self.active in self._crashed:
            url = _resumable(self.active.url)
            await self.replace_tab(self.active, url)
            self.notes.append(f"The page had crashed; it was reopened at {url}.")
        if self.active is None:
            await self.new_page()
        assert self.active is not None
        self.remember()
        return self.active

    async def replace_tab(self, old: Page, url: str = "about:blank") -> Page:
        """Close `old` (bounded: it may hang) and open a fresh tab at its place, at `url`."""
        index = self.tabs.index(old) if old in self.tabs else len(self.tabs)
        self._crashed.discard(old)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.close(run_before_unload=False), 3)
        self._on_close(old)
        page = await self.new_page()
        self.tabs.remove(page)
        self.tabs.insert(min(index, len(self.tabs)), page)
        if url != "about:blank":
            with contextlib.suppress(PlaywrightError):
                await page.goto(url, wait_until="domcontentloaded")
        return page

    async def stop_loading(self, page: Page) -> None:
        """Cancel a navigation that outlived its timeout (Playwright gives up; Chromium would
        keep waiting for the server), so the tab stays on the page it was showing."""
        with contextlib.suppress(Exception):
            cdp = await asyncio.wait_for(self.cdp(page), 2)
            await asyncio.wait_for(cdp.send("Page.stopLoading"), 2)

    def remember(self) -> None:
        """Note the open tabs, to reopen them if the browser dies."""
        if self.browser_alive():
            self._snapshot = ([_resumable(p.url) for p in self.tabs], max(self.tab_index() - 1, 0))

    def crashed(self, page: Page) -> bool:
        return page in self._crashed or not self.browser_alive()


def _resumable(url: str) -> str:
    return "about:blank" if not url or url.startswith(("chrome-error:", "chrome:")) else url


def _close_soon(page: Page) -> None:
    """Close a page we will not use, without waiting for it (a flood may bring thousands)."""
    task = asyncio.ensure_future(page.close(run_before_unload=False))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
