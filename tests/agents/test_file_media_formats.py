"""Text formats open with paging and find; archives (tar, tar.gz, zip) unpack safely into the
workspace and their members open; `../` members and bombs are refused with a clear reason."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from magentic.agents.base import StepContext
from magentic.agents.file_settings import FileSurferSettings
from magentic.agents.file_surfer import FileSurfer
from magentic.agents.file_viewer import FileViewer
from magentic.events import EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer

MARK = "zephyrquokka"


def _lines(n: int, fmt: str) -> list[str]:
    return [fmt.format(i=i) for i in range(n)]


def text_files(folder: Path) -> dict[str, Path]:
    """One file of each kind, long enough to need several pages, the marker near the end."""
    n = 120
    files: dict[str, str] = {
        "data.jsonld": json.dumps(
            {
                "@context": "https://schema.org",
                "@graph": [{"@id": f"#item{i}", "name": f"item number {i}"} for i in range(n)]
                + [{"@id": "#last", "name": MARK}],
            },
            indent=2,
        ),
        "protein.pdb": "\n".join(
            [
                *_lines(n, "ATOM  {i:5d}  CA  ALA A{i:4d}      11.104  13.207   2.100  1.00 20.00"),
                f"REMARK 999 {MARK}",
                "END",
            ]
        ),
        "script.py": "\n".join([*_lines(n, "def f{i}(x):\n    return x * {i}"), f"# {MARK}"]),
        "feed.xml": "<root>\n"
        + "\n".join(_lines(n, "  <item n='{i}'>value {i}</item>"))
        + f"\n  <last>{MARK}</last>\n</root>",
        "conf.yaml": "\n".join([*_lines(n, "key{i}: value number {i}"), f"last: {MARK}"]),
        "conf.toml": "\n".join([*_lines(n, "key{i} = 'value number {i}'"), f"last = '{MARK}'"]),
        "notes.md": "\n\n".join(
            [*_lines(n, "Paragraph {i} of the notes, with some words."), f"## End\n\n{MARK}"]
        ),
        "table.tsv": "id\tname\n" + "\n".join(_lines(n, "{i}\tname {i}")) + f"\n999\t{MARK}",
        "book.ipynb": json.dumps(
            {
                "cells": [
                    {"cell_type": "markdown", "metadata": {}, "source": [f"Cell {i} text"]}
                    for i in range(n)
                ]
                + [
                    {
                        "cell_type": "code",
                        "metadata": {},
                        "execution_count": 1,
                        "outputs": [],
                        "source": [f"print('{MARK}')"],
                    }
                ],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        ),
        "subs.srt": "\n\n".join(
            f"{i + 1}\n00:00:{i % 60:02d},000 --> 00:00:{i % 60:02d},900\nLine {i} of speech"
            for i in range(n)
        )
        + f"\n\n{n + 1}\n00:02:00,000 --> 00:02:01,000\n{MARK}\n",
        "subs.vtt": "WEBVTT\n\n"
        + "\n\n".join(
            f"00:00:{i % 60:02d}.000 --> 00:00:{i % 60:02d}.900\nLine {i} of speech"
            for i in range(n)
        )
        + f"\n\n00:02:00.000 --> 00:02:01.000\n{MARK}\n",
    }
    out = {}
    for name, text in files.items():
        (folder / name).write_text(text)
        out[name] = folder / name
    return out


@pytest.fixture
async def viewer(tmp_path: Path) -> AsyncIterator[FileViewer]:
    viewer = FileViewer([tmp_path], page_tokens=150)
    yield viewer
    await viewer.close()


async def test_every_text_format_opens_pages_and_finds(viewer: FileViewer, tmp_path: Path) -> None:
    for name in text_files(tmp_path):
        view = await viewer.open(name)
        assert view.ok, (name, view.text)
        assert len(viewer.pages) > 1, name
        found = viewer.find(MARK)
        assert found.ok and "Found 1 match" in found.text, (name, found.text)
        assert viewer.page > 0, name  # the match is past the first page
        assert MARK in found.text.split("\n---\n")[1], name  # and on the page shown


def _tar_with_escape(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("docs/inside.txt", f"safe text {MARK}"), ("../escape.txt", "bad")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data.encode()))
        link = tarfile.TarInfo("docs/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return path


def _tar_bomb(path: Path) -> Path:
    """A tar.gz whose one member is 600 MB of zeros (about 600 KB on disk)."""
    size = 600 * 1024 * 1024

    class Zeros(io.RawIOBase):
        left = size

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
            n = min(len(b), self.left)
            b[:n] = bytes(n)
            self.left -= n
            return n

    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tar.addfile(info, io.BufferedReader(Zeros()))
    return path


def _surfer(server: ScriptedLLMServer, workspace: Path) -> tuple[FileSurfer, StepContext]:
    settings = ModelSettings(model="scripted", base_url=server.base_url, api_key="t", vision=False)
    agent = FileSurfer(ModelClient(settings, role="file_surfer"), [], FileSurferSettings())
    ctx = StepContext(task="t", conversation=[], workspace=workspace, events=EventBus(), files=[])
    return agent, ctx


async def test_tar_members_unpack_safely_and_open(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    _tar_with_escape(workspace / "bundle.tar.gz")
    opened: list[str] = []

    def script(req: ChatRequest) -> Reply:
        text = req.last_user_text()
        if "Viewer: No file is open." in text:
            return Reply.tool_call("open_path", {"path": "bundle.tar.gz"})
        member = text.split("e.g. ", 1)[1].split()[0]
        opened.append(member)
        return Reply.tool_call("open_path", {"path": member})

    async with ScriptedLLMServer(script) as server:
        agent, ctx = _surfer(server, workspace)
        try:
            listing = (await agent.step("list it", ctx)).text
            member = (await agent.step("open the member", ctx)).text
        finally:
            await agent.close()
            await agent.client.close()
    assert "docs/inside.txt" in listing
    assert "../escape.txt: refused, a path that climbs out" in listing
    assert "docs/passwd: refused, a link (to /etc/passwd)" in listing
    assert "1 files unpacked into" in listing
    assert opened[0].endswith("docs/inside.txt") and MARK in member
    assert not (workspace / ".magentic-media" / "escape.txt").exists()
    names = {p.name for p in _walk(tmp_path)}
    assert "escape.txt" not in names and "passwd" not in names


async def test_tar_and_zip_bombs_are_refused(viewer: FileViewer, tmp_path: Path) -> None:
    _tar_bomb(tmp_path / "bomb.tar.gz")
    view = await viewer.open("bomb.tar.gz")
    assert not view.ok and "Refused to open bomb.tar.gz" in view.text
    assert "over the 256.0 MB limit (an archive bomb?)" in view.text
    _zip_bomb(tmp_path / "bomb.zip")
    view = await viewer.open("bomb.zip")
    assert not view.ok and "bomb" in view.text.lower() and "Traceback" not in view.text


def _walk(folder: Path) -> list[Path]:
    return list(folder.rglob("*"))


def _zip_bomb(path: Path) -> None:
    """300 MB of zeros in one deflated member (about 300 KB on disk)."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(300):
            member.write(bytes(1024 * 1024))
