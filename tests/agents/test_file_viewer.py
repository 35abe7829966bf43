"""The FileViewer on real documents: conversion, paging, find, listing, and refusals.

The documents come from tests/agents/conftest.py; each part of each holds a marker word,
so "paging reaches every part" and "find lands on the right page" are checked against the
text itself, not against numbers written into the test.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import wave
from pathlib import Path

import pytest

from magentic.agents.file_viewer import FileViewer, View, estimate_tokens, paginate

KINDS = ["pdf", "docx", "xlsx", "pptx", "csv", "html", "zip", "png", "json", "xml"]
PAGED_KINDS = ["pdf", "docx", "xlsx", "pptx", "csv"]


def body_of(view: View) -> str:
    """The page text between the header's and the footer's rules."""
    parts = view.text.split("\n---\n")
    assert len(parts) >= 3, view.text
    return parts[1]


def page_number(view: View) -> tuple[int, int]:
    m = re.search(r"^Page (\d+) of (\d+)", view.text, re.MULTILINE)
    assert m, view.text
    return int(m.group(1)), int(m.group(2))


async def read_all_pages(viewer: FileViewer, path: Path) -> list[str]:
    view = await viewer.open(str(path))
    assert view.ok, view.text
    pages = [body_of(view)]
    while True:
        view = viewer.page_down()
        if not view.ok:
            assert "Already at the last page" in view.text
            return pages
        pages.append(body_of(view))


@pytest.fixture
def viewer(documents: dict[str, Path]) -> FileViewer:
    return FileViewer([documents["pdf"].parent], page_tokens=200)


@pytest.mark.parametrize("kind", KINDS)
async def test_paging_reaches_every_part_of_every_type(
    markers: dict[str, list[str]], viewer: FileViewer, documents: dict[str, Path], kind: str
) -> None:
    pages = await read_all_pages(viewer, documents[kind])
    assert len(pages) == len(viewer.pages)
    seen = "\n".join(pages)
    for marker in markers[kind]:
        assert marker in seen, f"{marker} of the {kind} never shown"
    if kind in PAGED_KINDS:
        assert len(pages) > 1, f"the {kind} should need several pages at 200 tokens"
        # parts come in reading order: each marker first shows on a page no earlier than the last
        first_pages = [next(i for i, p in enumerate(pages) if m in p) for m in markers[kind]]
        assert first_pages == sorted(first_pages)
        assert first_pages[-1] > 0  # the last part is past the first page


async def test_header_names_path_title_type_and_page(
    markers: dict[str, list[str]], viewer: FileViewer, documents: dict[str, Path]
) -> None:
    view = await viewer.open("sample.html")
    assert f"Path: {documents['html']}" in view.text
    assert f"Title: The {markers['html'][0]} page" in view.text  # the HTML <title>
    assert "Type: HTML page" in view.text
    assert page_number(view) == (1, len(viewer.pages))
    assert "never shown" not in "\n".join(await read_all_pages(viewer, documents["html"]))


async def test_go_to_page_and_the_edges(viewer: FileViewer) -> None:
    await viewer.open("sample.pdf")
    n = len(viewer.pages)
    assert n >= 3
    assert not viewer.page_up().ok  # already at the first page
    view = viewer.go_to_page(n)
    assert view.ok and page_number(view) == (n, n)
    assert "[end of the document]" in view.text
    assert page_number(viewer.page_up()) == (n - 1, n)
    for bad in (0, n + 1):
        view = viewer.go_to_page(bad)
        assert not view.ok
        assert f"pages run from 1 to {n}" in view.text
        assert page_number(view) == (n - 1, n)  # a bad page leaves the view where it was


@pytest.mark.parametrize("kind", ["pdf", "docx", "xlsx", "pptx"])
async def test_find_lands_on_the_page_that_holds_the_match(
    markers: dict[str, list[str]], viewer: FileViewer, documents: dict[str, Path], kind: str
) -> None:
    pages = await read_all_pages(viewer, documents[kind])
    for marker in markers[kind]:
        expected = next(i for i, p in enumerate(pages) if marker in p) + 1
        viewer.go_to_page(1)
        view = viewer.find(marker.upper())  # case is ignored
        assert view.ok
        assert page_number(view)[0] == expected
        assert f"on page {expected}" in view.text
        assert marker in body_of(view)
        assert re.search(rf"1\. page {expected}: .*\*\*{marker}\*\*", view.text, re.IGNORECASE)


async def test_find_next_walks_every_match_in_order_and_wraps(viewer: FileViewer) -> None:
    await viewer.open("sample.pdf")
    view = viewer.find("survey team")
    total = int(re.search(r"Found (\d+) matches", view.text).group(1))
    text = viewer.document.text
    assert total == len(re.findall(r"survey\s+team", text, re.IGNORECASE))
    visited = [page_number(view)[0]]
    for i in range(2, total + 1):
        view = viewer.find_next()
        assert f"showing match {i} of {total}" in view.text
        assert "survey" in body_of(view).lower()
        visited.append(page_number(view)[0])
    assert visited == sorted(visited) and visited[-1] > visited[0]
    view = viewer.find_next()
    assert f"showing match 1 of {total}" in view.text and "wrapped" in view.text
    assert page_number(view)[0] == visited[0]


async def test_find_matches_across_line_breaks_and_reports_misses(viewer: FileViewer) -> None:
    await viewer.open("sample.pdf")
    text = viewer.document.text
    assert re.search(r"notes at\s*\n\s*dusk", text), "the PDF text should break this phrase"
    assert "match" in viewer.find("notes   at dusk").text
    missing = viewer.find("zebracrossing")
    assert missing.ok and "No match for 'zebracrossing'" in missing.text
    assert "No search to continue" in viewer.find_next().text
    assert not viewer.find("   ").ok


async def test_find_starts_from_the_current_page(
    markers: dict[str, list[str]], viewer: FileViewer
) -> None:
    await viewer.open("sample.pdf")
    view = viewer.find("Paragraph 1 of")
    assert "showing match 1 of 5" in view.text
    third_page = int(re.search(r"^  3\. page (\d+):", view.text, re.MULTILINE).group(1))
    viewer.go_to_page(third_page)
    view = viewer.find("Paragraph 1 of")
    assert "showing match 3 of 5" in view.text and markers["pdf"][2] in body_of(view)


async def test_spreadsheet_pages_say_their_sheet_and_repeat_the_table_header(
    markers: dict[str, list[str]], viewer: FileViewer
) -> None:
    headers = {"Sales": "| month | region | units | note |", "Staff": "| name | role | since |"}
    await viewer.open("sample.xlsx")
    continued = 0
    for number in range(1, len(viewer.pages) + 1):
        view = viewer.go_to_page(number)
        start, end = viewer.pages[number - 1]
        raw = viewer.document.text[start:end].lstrip("\n")
        if not raw.startswith("|"):
            continue  # the page opens a sheet: its own header is on it
        continued += 1
        sheet = re.search(r"^Section: (\w+)$", view.text, re.MULTILINE).group(1)
        note = "(the table goes on from the previous page; its header:)\n"
        assert body_of(view).startswith(note + headers[sheet] + "\n| --- |")
    assert continued >= 2
    assert "Section: Staff" in viewer.find(markers["xlsx"][1]).text
    assert "Section: Sales" in viewer.find(markers["xlsx"][0]).text


async def test_image_metadata_zip_listing_json_and_xml(
    markers: dict[str, list[str]], viewer: FileViewer, documents: dict[str, Path]
) -> None:
    png = await viewer.open("sample.png")
    assert "64 x 48 pixels" in png.text and f"The {markers['png'][0]} chart" in png.text
    assert "Author: Survey team" in png.text
    archive = (await viewer.open("sample.zip")).text
    assert "| notes/readme.txt |" in archive and "| data/table.csv |" in archive
    assert all(m in archive for m in markers["zip"])
    assert markers["json"][0] in (await viewer.open("sample.json")).text
    assert markers["xml"][0] in (await viewer.open("sample.xml")).text


async def test_list_directory_shows_types_and_sizes(documents: dict[str, Path]) -> None:
    viewer = FileViewer([documents["pdf"].parent])
    view = await viewer.list_directory()
    assert view.ok
    for path in documents.values():
        assert f"| {path.name} |" in view.text
    pdf_size = documents["pdf"].stat().st_size
    assert re.search(rf"\| sample\.pdf \| PDF document \| {pdf_size / 1024:.1f} KB \|", view.text)
    assert "| sample.xlsx | Excel workbook |" in view.text
    assert not (await viewer.list_directory("sample.pdf")).ok


async def test_paths_outside_the_roots_are_refused(tmp_path: Path) -> None:
    root, secret = tmp_path / "root", tmp_path / "secret.txt"
    (root / "sub").mkdir(parents=True)
    secret.write_text("the vault code is 1234")
    (root / "inside.txt").write_text("inside text")
    (root / "link.txt").symlink_to(secret)
    (root / "sub" / "outlink").symlink_to(tmp_path, target_is_directory=True)
    viewer = FileViewer([root])
    for attempt in [
        str(secret),
        "../secret.txt",
        "sub/../../secret.txt",
        f"{root}/../secret.txt",
        "link.txt",
        "sub/outlink/secret.txt",
        "/etc/passwd",
    ]:
        view = await viewer.open(attempt)
        assert not view.ok, attempt
        assert view.text.startswith("Refused:") and "outside what you may read" in view.text
        assert "1234" not in view.text
    assert "symbolic link" in (await viewer.open("link.txt")).text
    assert not (await viewer.list_directory("sub/outlink")).ok
    # `..` that stays inside the root is only a path
    assert "inside text" in (await viewer.open("sub/../inside.txt")).text


async def test_an_attached_file_is_readable_but_not_its_siblings(
    tmp_path: Path, documents: dict[str, Path]
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    viewer = FileViewer([workspace, documents["xlsx"]], page_tokens=200)
    view = await viewer.open("sample.xlsx")  # found by name among the attached files
    assert view.ok and "## Sales" in view.text
    assert not (await viewer.open(str(documents["pdf"]))).ok
    listing = (await viewer.list_directory()).text
    assert str(documents["xlsx"]) in listing and str(workspace) in listing


async def test_broken_and_unreadable_files_give_clear_observations(
    tmp_path: Path, broken_files: dict[str, Path], documents: dict[str, Path]
) -> None:
    viewer = FileViewer([tmp_path])
    cases = {
        "broken/broken.pdf": "Could not read broken.pdf (PDF document): PSEOF",
        "broken/broken.docx": "broken.docx is not a valid Word document",
        "broken/blob.bin": "is not a readable type",
        "broken/missing.pdf": "No such file",
    }
    for path, expected in cases.items():
        view = await viewer.open(path)
        assert not view.ok
        assert expected in view.text, view.text
        assert "Traceback" not in view.text and len(view.text) < 400
    for weird in ["bad\x00name.pdf", "x" * 5000, "   "]:
        view = await viewer.open(weird)
        assert not view.ok and "Traceback" not in view.text
    assert not (await viewer.list_directory("bad\x00dir")).ok
    assert viewer.document is None  # a failed open leaves nothing half-open
    folder = await viewer.open("broken")
    assert folder.ok and "| broken.pdf | PDF document |" in folder.text
    with wave.open(str(tmp_path / "tone.wav"), "wb") as wav:  # a real, silent WAV file
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 8000)
    sound = await viewer.open("tone.wav")
    if shutil.which("ffprobe"):  # the media hook reads audio facts through ffprobe
        assert sound.ok and "Duration: 0:01" in sound.text and "8000 Hz" in sound.text
    else:
        assert not sound.ok and "ffprobe is not installed" in sound.text
    (tmp_path / "empty.txt").write_text("")
    assert "holds no text" in (await viewer.open("empty.txt")).text
    small = FileViewer([tmp_path], max_file_mb=0.001)
    (tmp_path / "big.txt").write_text("x" * 5000)
    assert "over the 1.0 KB limit" in (await small.open("big.txt")).text
    slow = FileViewer([documents["pdf"]], conversion_timeout_s=0.001)  # a cold cache
    assert "took over" in (await slow.open("sample.pdf")).text


async def test_conversions_are_cached_until_the_file_changes(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("first version alpha")
    viewer = FileViewer([tmp_path])
    assert await viewer.converter.convert(note) is await viewer.converter.convert(note)
    assert "alpha" in (await viewer.open("note.txt")).text
    note.write_text("second version, now with beta")
    os.utime(note, ns=(note.stat().st_atime_ns, note.stat().st_mtime_ns + 10**9))
    view = await viewer.open("note.txt")
    assert "beta" in view.text and "alpha" not in view.text


async def test_reset_forgets_the_open_file(viewer: FileViewer) -> None:
    await viewer.open("sample.pdf")
    viewer.find("report")
    viewer.reset()
    assert viewer.state == "No file is open."
    assert not viewer.page_down().ok and "No file is open" in viewer.page_down().text
    assert not viewer.find_next().ok


def test_pages_cover_the_text_and_fit_the_budget(documents: dict[str, Path]) -> None:
    text = "\n".join(
        ["Some prose about the survey, with numbers like 12345 and 3.14."] * 200
        + ["| a | b |", "| --- | --- |"]
        + [f"| {i} | value {i} |" for i in range(300)]
        + ["x" * 5000]  # one long line with no spaces at all
    )
    for budget in (100, 400, 1500):
        spans = paginate(text, budget)
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        assert all(estimate_tokens(text[s:e]) <= budget + 10 for s, e in spans)
        # pages are not tiny either: all but the last hold at least half a budget
        assert all(estimate_tokens(text[s:e]) >= budget // 2 for s, e in spans[:-1])
    assert paginate("", 100) == [(0, 0)]


def test_pages_break_before_a_heading_in_their_second_half() -> None:
    section = "word " * 60  # about 60 tokens
    text = "".join(f"# Part {i}\n{section}\n{section}\n" for i in range(12))
    spans = paginate(text, 200)  # a part (about 125 tokens) fits, two do not
    assert len(spans) > 5
    assert all(text[s:e].startswith("# Part") for s, e in spans)


def test_token_estimate_tracks_words_better_than_chars() -> None:
    prose = "The survey team logged every reading twice, and kept the better copy. " * 20
    words = len(prose.split())
    assert words <= estimate_tokens(prose) <= 1.4 * words
    table = "| 1 | 2 |\n| --- | --- |\n" * 50
    assert estimate_tokens(table) > len(table) / 4  # symbols cost more than prose
