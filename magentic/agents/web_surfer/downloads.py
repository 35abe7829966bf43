"""Files the browser fetches: capped while they stream, saved into the workspace, read.

Chromium writes a download into the pool's downloads folder as it streams; each tab's CDP
session reports its progress (`Page.downloadProgress`), and a download that passes
`[web] max_download_mb` is cancelled there and its partial file removed. A finished download
is saved in the task's workspace under a safe, unique name (never outside it), converted to
text with the FileSurfer's converter, and announced with its path: the orchestrator can hand
it on, and the first page of its text comes back with the action's result.

A PDF opened in the tab would only show in Chromium's viewer, whose text no observation can
reach; such a page is downloaded the same way (a link with `download` in the viewer's own
document, so the same cap and naming apply).

Under the `[approval]` rule `download` (approval.py), a download is kept only once the gate
says yes; a no cancels it and keeps nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.async_api import CDPSession, Download, Page, Response
from playwright.async_api import Error as PlaywrightError

from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.safe_fs import create, create_unique, open_nofollow

if TYPE_CHECKING:
    from magentic.agents.file_worker import Converter
    from magentic.agents.web_surfer.browser import BrowserSession

# Documents the browser would show in a viewer rather than as a page.
VIEWER_TYPES = ("application/pdf", "application/x-pdf")

_DOWNLOAD_THIS_JS = """(url) => {
  const a = document.createElement('a');
  a.href = url;
  a.download = '';
  document.documentElement.appendChild(a);
  a.click();
  a.remove();
}"""


async def convert_file(converter: Converter, path: Path) -> tuple[str, str]:
    """(kind, text) of a downloaded file, by the FileSurfer's conversion worker (a killable,
    memory-limited child process: a hostile download cannot take the run's memory). A file
    it cannot read gives ("", the reason)."""
    from magentic.agents.file_convert import Refused, kind_of

    try:
        return kind_of(path), (await converter.convert(path)).text
    except Refused as refused:
        return "", str(refused)


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def first_page(text: str, chars: int) -> tuple[str, int]:
    """The first `chars` of `text`, cut at a line end, and how many such pages there are."""
    pages = max(1, -(-len(text) // chars))
    if len(text) <= chars:
        return text, 1
    cut = text.rfind("\n", 0, chars)
    return text[: cut if cut > chars // 2 else chars], pages


class Downloads:
    """One session's downloads: the size cap, saving, converting, and what to tell."""

    def __init__(self, session: BrowserSession, settings: WebSurferSettings) -> None:
        self.session = session
        self.settings = settings
        self.max_bytes = int(settings.max_download_mb * 1024 * 1024)
        self.texts: list[str] = []  # first pages of documents downloaded, not yet reported
        self._begun: dict[str, tuple[str, str]] = {}  # Chromium guid -> (url, file name)
        # (url, name) -> (guid, bytes received, bytes announced) of downloads over the cap
        self._over: dict[tuple[str, str], tuple[str, int, int]] = {}
        self._pending: list[Download] = []
        self._viewed: dict[Page, str] = {}  # tabs that show a document in a viewer
        self._arrived: asyncio.Event | None = None  # set when a download starts
        self._converter: Converter | None = None  # started on the first download to read

    def converter(self) -> Converter:
        if self._converter is None:
            from magentic.agents.file_worker import Converter

            self._converter = Converter(max_file_mb=self.settings.max_download_mb)
        return self._converter

    async def close(self) -> None:
        """Stop the conversion worker, if a download started one."""
        if self._converter is not None:
            await self._converter.close()
            self._converter = None

    # Watching ----------------------------------------------------------------------------
    def watch(self, cdp: CDPSession) -> None:
        """Follow the downloads a tab starts (its CDP session, with Page enabled)."""
        cdp.on("Page.downloadWillBegin", self._on_begin)
        cdp.on("Page.downloadProgress", self._on_progress)

    def _on_begin(self, params: dict[str, Any]) -> None:
        self._begun[params["guid"]] = (params.get("url", ""), params.get("suggestedFilename", ""))

    def _on_progress(self, params: dict[str, Any]) -> None:
        guid, received = params.get("guid", ""), int(params.get("receivedBytes") or 0)
        total = int(params.get("totalBytes") or 0)  # 0 when the server did not say
        key = self._begun.get(guid)
        over = received > self.max_bytes or total > self.max_bytes
        if key is None or not over or params.get("state") != "inProgress":
            return
        if key not in self._over:
            self._over[key] = (guid, received, total)
            self._cancel_over()

    def _cancel_over(self) -> None:
        for download in list(self._pending):
            if (download.url, download.suggested_filename) in self._over:
                self._pending.remove(download)
                task = asyncio.ensure_future(download.cancel())
                task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def on_response(self, response: Response) -> None:
        """Note a tab whose document is one the browser shows in a viewer (a PDF)."""
        with contextlib.suppress(PlaywrightError):
            frame = response.frame
            if frame.parent_frame is not None or not response.request.is_navigation_request():
                return
            kind = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
            if kind in VIEWER_TYPES and response.status < 400:
                self._viewed[frame.page] = response.url

    async def fetch_viewed(self, page: Page) -> bool:
        """Download the document `page` shows in a viewer, once; True if one was started."""
        url = self._viewed.pop(page, None)
        if url is None or page.is_closed() or page.url != url:
            return False
        self._arrived = arrived = asyncio.Event()
        try:
            await asyncio.wait_for(page.evaluate(_DOWNLOAD_THIS_JS, url), 5)
            # The download event follows the click by a moment: wait for it (bounded).
            await asyncio.wait_for(arrived.wait(), self.settings.navigation_timeout_s)
        except (PlaywrightError, TimeoutError, asyncio.TimeoutError):
            return False
        return True

    # Saving ------------------------------------------------------------------------------
    async def save(self, download: Download) -> None:
        """Save a finished download in the workspace and read it; or report why not."""
        name = safe_name(download.suggested_filename or "download")
        key = (download.url, download.suggested_filename)
        self._pending.append(download)
        if self._arrived is not None:
            self._arrived.set()
        if key in self._over:
            self._cancel_over()
        notes = self.session.notes
        approvals = self.session.approvals
        refused = await approvals.download(download.url, name) if approvals else None
        if refused is not None:  # the `download` rule (approval.py): nothing is kept
            with contextlib.suppress(ValueError):
                self._pending.remove(download)
            with contextlib.suppress(PlaywrightError):
                await download.cancel()
            with contextlib.suppress(PlaywrightError):
                await download.delete()  # Chromium's copy
            notes.append(f"The download of {name} was not kept: {refused}.")
            return
        failure: str | None = None
        source: Path | None = None
        watcher = asyncio.ensure_future(self._watch_untracked(download, key))
        try:
            source = Path(await download.path())  # Chromium's finished file, outside the run
        except PlaywrightError as error:
            failure = str(error).strip().splitlines()[0] if str(error).strip() else "failed"
        finally:
            watcher.cancel()
        if failure is None:
            failure = await download.failure()
        with contextlib.suppress(ValueError):
            self._pending.remove(download)
        size = await asyncio.to_thread(_size, source) if source is not None else 0
        if key in self._over or size > self.max_bytes:
            guid, seen, total = self._over.pop(key, ("", size, 0))
            await self._remove(download, guid, None)
            announced = f" ({human_size(total)})" if total else ""
            notes.append(
                f"The download of {name}{announced} was stopped at {human_size(seen)}: it is "
                f"over the {human_size(self.max_bytes)} limit for downloads. Nothing was kept."
            )
            return
        staged: Path | None = None
        if not failure and source is not None:
            try:
                staged = await asyncio.to_thread(stage, source, name, self.max_bytes)
                target = await asyncio.to_thread(keep, staged, self.session.downloads_dir)
            except OSError as error:  # a link planted on the way, a full disk, a vanished file
                failure = f"it could not be saved in the workspace ({error})"
        try:
            if failure or staged is None:
                await self._remove(download, "", None)
                notes.append(f"A download of {name} failed: {(failure or 'failed')[:200]}")
                return
            self.session.downloaded.append(target)
            with contextlib.suppress(PlaywrightError):
                await download.delete()  # the copy in Chromium's folder
            # Read from our private copy: the workspace's one the sandbox could swap for a link.
            kind, text = await convert_file(self.converter(), staged)
        finally:
            if staged is not None:
                await asyncio.to_thread(shutil.rmtree, staged.parent, True)
        where = f"Downloaded {target.name} ({human_size(size)}) into the workspace: {target}."
        if not kind:
            notes.append(f"{where} It could not be read as text: {text[:200]}")
            return
        page, pages = first_page(text.strip(), self.settings.download_page_chars)
        more = (
            f"\n\n(Page 1 of {pages}. The FileSurfer can read the rest of {target}.)"
            if pages > 1
            else ""
        )
        self.texts.append(f"{where} Its text ({kind}):\n\n{page}{more}")
        notes.append(f"{where} Its text (page 1 of {pages}) is in the report.")

    async def _watch_untracked(self, download: Download, key: tuple[str, str]) -> None:
        """Cap a download no tab's CDP session reports on (one that started in a popup before
        we were attached to it), by the size of Chromium's partial files."""
        partial = self.session.pool.downloads_path
        while partial is not None and key not in self._over:
            await asyncio.sleep(0.2)  # a poll: nothing announces a file's growth
            known = set(self._begun)
            if key in self._begun.values():
                return  # a tab reports this one: _on_progress caps it
            sizes = await asyncio.to_thread(_partial_sizes, partial)
            for guid, size in sizes.items():
                if guid not in known and size > self.max_bytes:
                    self._over[key] = (guid, size, 0)
                    with contextlib.suppress(PlaywrightError):
                        await download.cancel()
                    return

    async def _remove(self, download: Download, guid: str, target: Path | None) -> None:
        """Remove every copy of a download we will not keep: ours and Chromium's partial."""
        with contextlib.suppress(PlaywrightError):
            await download.delete()
        partial = self.session.pool.downloads_path
        paths = [target] if target is not None else []
        if guid and partial is not None:
            paths += [partial / guid, partial / f"{guid}.crdownload"]
        await asyncio.to_thread(_unlink_all, paths)

    def take_texts(self) -> str | None:
        texts, self.texts = self.texts, []
        return "\n\n".join(texts) or None


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, only harmless characters."""
    name = Path(name.replace("\\", "/")).name
    name = re.sub(r"[^\w.\- ()]+", "_", name).strip(" .")
    return name[:120] or "download"


def stage(source: Path, name: str, max_bytes: int) -> Path:
    """A private copy of Chromium's finished file, named `name`, in a new owner-only folder
    (the caller removes it). Chromium's file, which may belong to the browser's user, is
    opened without following a link; at most `max_bytes` are copied. Blocking."""
    folder = Path(tempfile.mkdtemp(prefix="magentic-download-"))
    try:
        with open_nofollow(source) as src, create(folder, name, mode=0o600) as out:
            copied = 0
            while chunk := src.read(1 << 20):
                copied += len(chunk)
                if copied > max_bytes:
                    raise OSError(f"it grew past the {human_size(max_bytes)} limit")
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder / name


def keep(staged: Path, workspace: Path) -> Path:
    """Copy the staged file into the workspace under its name (or `name-2`...), and the path
    it got. The workspace is sandbox-writable, so the copy goes through `safe_fs`: created
    new (O_EXCL), no link followed. Readable by the sandbox's user. Blocking."""
    workspace.mkdir(parents=True, exist_ok=True)  # its parent is the run folder: ours alone
    with open_nofollow(staged) as src:
        target, out = create_unique(workspace, [], staged.name, mode=0o644)
        with out:
            shutil.copyfileobj(src, out, 1 << 20)
    return target


def _size(path: Path) -> int:
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _partial_sizes(folder: Path) -> dict[str, int]:
    """Chromium's downloads in progress in `folder`: guid -> bytes so far."""
    sizes = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.endswith(".crdownload"):
                with contextlib.suppress(OSError):
                    sizes[entry.name.removesuffix(".crdownload")] = entry.stat().st_size
    return sizes


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
