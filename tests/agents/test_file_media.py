"""The FileSurfer's media reading through the real conversion worker: OCR of images and
scanned PDF pages (real Tesseract), spreadsheet formatting (a real openpyxl workbook)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from magentic.agents.file_viewer import FileViewer
from tests.conftest import require

WORDS = ["QUARTERLY", "HARVEST", "REPORT", "lantern", "meadow", "4729"]


def text_image(path: Path, lines: list[str], size: tuple[int, int] = (1400, 500)) -> Path:
    """A white image with black text a person reads easily (DejaVu Sans, 48 px)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 48)
    except OSError:
        font = ImageFont.load_default(size=48)
    for i, line in enumerate(lines):
        draw.text((60, 60 + i * 90), line, fill="black", font=font)
    image.save(path)
    return path


def scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages are only images (no text layer), as a scanner makes them."""
    images = [
        text_image(path.with_suffix(f".{i}.png"), lines, (1700, 2200))
        for i, lines in enumerate(pages)
    ]
    from PIL import Image

    opened = [Image.open(p).convert("RGB") for p in images]
    opened[0].save(path, "PDF", resolution=200.0, save_all=True, append_images=opened[1:])
    for p in images:
        p.unlink()
    return path


@pytest.fixture
async def viewer(tmp_path: Path) -> AsyncIterator[FileViewer]:
    viewer = FileViewer([tmp_path], page_tokens=400)
    yield viewer
    await viewer.close()


def needs_tesseract() -> None:
    require(shutil.which("tesseract") is not None, "tesseract (apt-get install tesseract-ocr)")


async def test_text_in_an_image_is_read_by_ocr(viewer: FileViewer, tmp_path: Path) -> None:
    needs_tesseract()
    text_image(tmp_path / "sign.png", ["QUARTERLY HARVEST REPORT", "lantern meadow 4729"])
    view = await viewer.open("sign.png")
    assert view.ok, view.text
    assert "Text in the image (read by OCR)" in view.text
    ocr = view.text.split("read by OCR)", 1)[1]
    for word in WORDS:
        assert word in ocr.split(), (word, ocr)


async def test_scanned_pdf_pages_are_ocrd_page_by_page(viewer: FileViewer, tmp_path: Path) -> None:
    needs_tesseract()
    pages = [["First page says", "copper kettle 118"], ["Second page says", "silver ladle 907"]]
    scanned_pdf(tmp_path / "scan.pdf", pages)
    view = await viewer.open("scan.pdf")
    assert view.ok, view.text
    assert "scanned PDF of 2 pages" in view.text
    found = viewer.find("silver ladle 907")
    assert found.ok and "Page 2 (scanned; read by OCR)" in viewer.document.text  # type: ignore[union-attr]
    first, second = viewer.document.text.split("## Page 2")  # type: ignore[union-attr]
    assert "copper kettle 118" in first and "silver" not in first
    assert "silver ladle 907" in second


async def test_a_huge_image_is_refused_with_a_reason(viewer: FileViewer, tmp_path: Path) -> None:
    from PIL import Image

    # 20,000 x 20,000 pixels, stored small: PNG of one colour compresses to a few hundred KB
    Image.new("1", (20_000, 20_000), 1).save(tmp_path / "huge.png", optimize=True)
    view = await viewer.open("huge.png")
    assert not view.ok
    assert "huge.png" in view.text and "decompression bomb" in view.text.lower()


def coloured_workbook(path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "Sales"
    green = PatternFill("solid", fgColor="00B050")
    yellow = PatternFill("solid", fgColor="FFFF00")
    ws.append(["Item", "Amount"])
    rows = [
        ("apples", 12, green),
        ("pears", 30, yellow),
        ("plums", 7, green),
        ("figs", 5, None),
        ("kiwis", 21, green),
    ]
    for name, amount, fill in rows:
        ws.append([name, amount])
        if fill is not None:
            ws.cell(row=ws.max_row, column=2).fill = fill
    ws["A2"].comment = Comment("checked by the auditor", "Dana")
    ws["A1"].font = Font(color="FF0000", bold=True)
    ws["A8"] = "Total"
    ws["B8"] = "=SUM(B2:B6)"
    ws.merge_cells("D1:E2")
    ws["D1"] = "Season"
    wb.create_sheet("Notes")["A1"] = "second sheet"
    wb.save(path)
    return path


async def test_spreadsheet_colours_comments_merges_and_sheets(
    viewer: FileViewer, tmp_path: Path
) -> None:
    coloured_workbook(tmp_path / "sales.xlsx")
    view = await viewer.open("sales.xlsx")
    assert view.ok, view.text
    text = viewer.document.text  # type: ignore[union-attr]
    green = next(line for line in text.splitlines() if line.startswith("Fill green"))
    assert "3 cells" in green and "B2" in green and "B4" in green and "B6" in green
    values_line = text.splitlines()[text.splitlines().index(green) + 1]
    # "sum the green cells" is answerable from the text alone: 12 + 7 + 21
    values = [int(part.split("=")[1]) for part in values_line.split(":", 1)[1].split(";")]
    assert sum(values) == 40
    assert "Fill yellow" in text and "B3=30" in text
    assert "Font colour red (#FF0000)" in text
    assert "A2 (Dana): checked by the auditor" in text
    assert "Merged ranges: D1:E2" in text
    assert "B8: `=SUM(B2:B6)`" in text
    assert "'Sales', 'Notes'" in text and "Sheet 'Notes'" in text


async def test_theme_colours_are_resolved_to_names(viewer: FileViewer, tmp_path: Path) -> None:
    """Excel's palette picks are theme colours: named from the workbook's own theme."""
    from openpyxl import Workbook
    from openpyxl.styles import PatternFill
    from openpyxl.styles.colors import Color

    wb = Workbook()
    ws = wb.active
    for row, (theme, tint) in enumerate([(6, 0.0), (6, 0.0), (5, 0.0)], start=1):
        ws.cell(row=row, column=1, value=row * 10).fill = PatternFill(
            "solid", fgColor=Color(theme=theme, tint=tint)
        )
    wb.save(tmp_path / "themed.xlsx")  # openpyxl writes the Office theme: accent 3 is 9BBB59
    assert (await viewer.open("themed.xlsx")).ok
    text = viewer.document.text  # type: ignore[union-attr]
    assert "Fill olive green (#9BBB59), theme colour 6: 2 cells, A1:A2" in text
    assert "A1=10; A2=20" in text
    assert "Fill brick red (#C0504D), theme colour 5: 1 cells, A3" in text


async def test_a_picture_without_text_reads_as_none(viewer: FileViewer, tmp_path: Path) -> None:
    """Texture that Tesseract half-reads as letters is below its confidence and dropped."""
    needs_tesseract()
    import random

    from PIL import Image

    rng = random.Random(7)
    image = Image.new("RGB", (600, 400))
    image.putdata(
        [(rng.randrange(256), (x * y) % 256, (x + y) % 256) for y in range(400) for x in range(600)]
    )
    image.save(tmp_path / "noise.png")
    view = await viewer.open("noise.png")
    assert view.ok, view.text
    assert "Text in the image (read by OCR)\n\n(no text found)" in view.text


def test_ocr_keeps_the_words_tesseract_is_sure_of() -> None:
    from magentic.agents.media.ocr import from_tsv

    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tl\tt\tw\th\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t0\t0\t9\t9\t96.1\tInvoice",
        "5\t1\t1\t1\t1\t2\t0\t0\t9\t9\t91.0\t4729",
        "5\t1\t1\t1\t1\t3\t0\t0\t9\t9\t12.5\t|ee—",  # texture read as letters
        "5\t1\t2\t1\t1\t1\t0\t0\t9\t9\t88.0\tPaid",
        "5\t1\t3\t1\t1\t1\t0\t0\t9\t9\t3.0\t~~",  # a line of noise only
    ]
    assert from_tsv("\n".join([head, *rows])) == "Invoice 4729\n\nPaid"
