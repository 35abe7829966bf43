"""Downloads through the real WebSurfer: a PDF the browser would show in its viewer and one
sent as an attachment are saved in the workspace, read with the FileSurfer's converter and
announced with their path; a download past the size cap is stopped and nothing of it kept;
a file name cannot lead outside the workspace (issues 8 and 10)."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from magentic.agents.web_surfer.browser import BrowserPool
from magentic.agents.web_surfer.downloads import keep, safe_name, stage
from magentic.testing import ChatRequest, Reply
from tests.web.scripted_surfer import MakeSurfer, Surfer, surfers, visit
from tests.web.site_server import SITES

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

LINK = re.compile(r'^\[(\d+)\] link "([^"]*)"', re.MULTILINE)


@pytest_asyncio.fixture(loop_scope="module")  # close on the loop the test ran on
async def surfer(pool: BrowserPool, site_host: str, tmp_path: Path) -> AsyncIterator[MakeSurfer]:
    (tmp_path / "workspace").mkdir()
    async with surfers(pool, site_host, tmp_path / "workspace") as make:
        yield make


def clicking(site: str, name: str):  # -> a script
    """Open the documents page, then click the link named `name` (by the id shown)."""

    def script(request: ChatRequest) -> Reply:
        if request.index == 0:
            return visit(f"{site}/download-links.html")
        for number, label in LINK.findall(request.all_text()):
            if name in label:
                return Reply.tool_call("click", {"target_id": int(number)})
        raise AssertionError(f"no link {name!r} shown")

    return script


def stopped_early(text: str) -> bool:
    """The 64 MB download was stopped while it streamed (not found too big afterwards)."""
    stopped = re.search(
        r"The download of camera-archive\.bin \(64\.0 MB\) was stopped at ([\d.]+) (bytes|KB|MB)",
        text,
    )
    if stopped is None:
        return False
    scale = {"bytes": 1, "KB": 1024, "MB": 1024 * 1024}[stopped.group(2)]
    return float(stopped.group(1)) * scale < 60 * 1024 * 1024


async def download(
    make: MakeSurfer, site: str, name: str, **settings: object
) -> tuple[str, Surfer]:
    s = await make(clicking(site, name), **settings)
    reply, _ = await s.step()
    assert "Harbour documents" in reply.text
    reply, _ = await s.step()
    return reply.text, s


async def test_a_pdf_shown_in_the_viewer_is_saved_and_read(
    surfer: MakeSurfer, site: str, tmp_path: Path
) -> None:
    text, _ = await download(surfer, site, "Tide table (PDF)")
    saved = tmp_path / "workspace" / "download-tides.pdf"
    assert saved.read_bytes() == (SITES / "download-tides.pdf").read_bytes()
    assert f"Downloaded download-tides.pdf (9.2 KB) into the workspace: {saved}." in text
    # The first page of its text, and where the rest is.
    assert "Examplia harbour tide table, page 1 of 3" in text
    assert "High water on day 1: 4:11 am, 1.3 metres." in text
    assert "page 3 of 3" not in text
    assert re.search(rf"Page 1 of \d\. The FileSurfer can read the rest of {saved}\.", text)


async def test_an_attached_pdf_is_saved_and_read(
    surfer: MakeSurfer, site: str, tmp_path: Path
) -> None:
    text, _ = await download(surfer, site, "as an attachment")
    saved = tmp_path / "workspace" / "tides-attached.pdf"
    assert saved.is_file()
    assert f"into the workspace: {saved}." in text
    assert "Examplia harbour tide table, page 1 of 3" in text


async def test_a_download_past_the_cap_is_stopped_and_removed(
    surfer: MakeSurfer, site: str, tmp_path: Path, pool: BrowserPool
) -> None:
    text, _ = await download(surfer, site, "camera archive (64 MB)", max_download_mb=8)
    assert stopped_early(text), text
    assert "it is over the 8.0 MB limit for downloads. Nothing was kept." in text
    assert not (tmp_path / "workspace" / "camera-archive.bin").exists()
    partial = pool.downloads_path
    assert partial is not None and list(partial.iterdir()) == []  # Chromium's copy too


async def test_the_cap_holds_for_a_download_in_a_new_tab(
    surfer: MakeSurfer, site: str, tmp_path: Path, pool: BrowserPool
) -> None:
    text, _ = await download(surfer, site, "in a new tab", max_download_mb=8)
    assert re.search(r"camera-archive\.bin was stopped at [\d.]+ MB: it is over", text), text
    assert "stopped at 64.0 MB" not in text  # while it streamed, not after
    assert not any((tmp_path / "workspace").iterdir())
    partial = pool.downloads_path
    assert partial is not None and list(partial.iterdir()) == []


async def test_a_file_name_cannot_leave_the_workspace(
    surfer: MakeSurfer, site: str, tmp_path: Path
) -> None:
    text, _ = await download(surfer, site, "Notice to mariners")
    workspace = tmp_path / "workspace"
    saved = list(workspace.iterdir())  # Chromium or we made the name safe: one plain file
    assert len(saved) == 1 and saved[0].name.endswith("escape.txt") and saved[0].is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["workspace"]  # noqa: ASYNC240 (nothing outside)
    assert f"into the workspace: {saved[0]}." in text
    assert "the north pier is closed" in text


@pytest.mark.asyncio(loop_scope="module")
async def test_names_are_plain_and_unique(tmp_path: Path) -> None:
    """No folder part, no hidden name, no reuse of an existing name, even a dangling link
    (saving through it would write wherever it points)."""
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\boot.ini") == "boot.ini"
    assert safe_name("..") == "download"
    assert safe_name(".bashrc") == "bashrc"
    assert safe_name("a<b>|c.pdf") == "a_b_c.pdf"
    workspace, chromium = tmp_path / "workspace", tmp_path / "chromium"
    workspace.mkdir()
    chromium.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (workspace / "report.pdf").symlink_to(tmp_path / "elsewhere" / "report.pdf")
    (chromium / "guid-1").write_bytes(b"%PDF-1.4 the report")
    staged = stage(chromium / "guid-1", "report.pdf", 1 << 20)
    try:
        kept = keep(staged, workspace)
    finally:
        shutil.rmtree(staged.parent)
    assert kept == workspace / "report-2.pdf" and kept.read_bytes() == b"%PDF-1.4 the report"
    assert not list((tmp_path / "elsewhere").iterdir())


_LINKER = r"""
import os, sys
ws, victim, stop, name = sys.argv[1:5]
stem, ext = os.path.splitext(name)
names = [name] + [f"{stem}-{n}{ext}" for n in range(2, 6)]
print("ready", flush=True)
while not os.path.exists(stop):
    for each in names:  # a link to the host folder under every name the save might pick
        path = os.path.join(ws, each)
        try:
            os.symlink(os.path.join(victim, each), path)
        except FileExistsError:
            pass
    for each in names:  # and gone again, so a check by name sees a free name
        path = os.path.join(ws, each)
        if os.path.islink(path):
            os.unlink(path)
"""


async def test_a_link_raced_in_at_the_download_name_is_not_written_through(
    surfer: MakeSurfer, site: str, tmp_path: Path
) -> None:
    """Sandbox code (here a real process on the workspace) plants and removes links to a host
    folder under the names the download may take, as fast as it can: the file lands in the
    workspace as a plain file, or the download fails cleanly; the host folder stays empty."""
    workspace, victim, stop = tmp_path / "workspace", tmp_path / "victim", tmp_path / "stop"
    victim.mkdir()
    linker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LINKER, str(workspace), str(victim), str(stop),
        "tides-attached.pdf", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert linker.stdout is not None and await linker.stdout.readline() == b"ready\n"
        text, _ = await download(surfer, site, "as an attachment")
    finally:
        stop.touch()
        await linker.wait()
    assert list(victim.iterdir()) == []
    kept = [p for p in workspace.iterdir() if not p.is_symlink()]
    if "into the workspace" in text:
        assert len(kept) == 1 and kept[0].read_bytes()[:5] == b"%PDF-"
    else:
        assert "could not be saved in the workspace" in text and kept == []


async def test_an_upload_swapped_for_a_link_after_it_was_chosen_is_refused(
    pool: BrowserPool, tmp_path: Path
) -> None:
    """The upload action checks the file, then copies it for Chromium: if sandbox code swaps
    it for a link to a host file in between, the copy refuses instead of reading the host
    file (which would go to the web site)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (tmp_path / "secret.txt").write_text("host secret")
    chosen = workspace / "notes.txt"
    chosen.write_text("my notes")
    copy = await asyncio.to_thread(pool.shared_copy, chosen, workspace)
    assert copy != chosen and copy.read_text() == "my notes"
    chosen.unlink()
    chosen.symlink_to(tmp_path / "secret.txt")
    with pytest.raises(OSError):
        await asyncio.to_thread(pool.shared_copy, chosen, workspace)
