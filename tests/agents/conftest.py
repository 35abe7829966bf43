"""Real documents for the FileSurfer tests, made fresh in each test's folder.

Every document is built with the library a user's file would come from (fpdf2, python-docx,
openpyxl, python-pptx, Pillow, zipfile), so markitdown converts the real format, not a
stand-in. Each part of each document carries a marker word (`MARKERS`) that no other part
holds, which lets a test prove that paging reached that part and that find lands on the page
that holds it. `make_documents` has no pytest dependency: benchmarks/file_view.py builds the
same set.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

# One marker per part of each document, in reading order.
MARKERS: dict[str, list[str]] = {
    "pdf": ["amberfalcon", "bluegarnet", "cobaltheron", "duskmeadow", "emberquill"],
    "docx": ["fernlantern", "glacierpike", "hollowcrest", "ironwillow"],
    "xlsx": ["juniperkite", "kelpharbor"],
    "pptx": ["lunarbadger", "mossyanvil", "nimbusotter", "onyxpetal"],
    "csv": ["quartzraven"],
    "html": ["rubysparrow", "saffrontide"],
    "zip": ["tundrawhale", "umberfjord"],
    "png": ["velvetyarrow"],
    "json": ["willowzephyr"],
    "xml": ["xenonacorn"],
}

_FILLER = (
    "The survey team logged every reading twice, compared the notes at dusk, and kept the "
    "better copy in a sealed folder so that later readers could trust the numbers. "
)


def _paragraphs(marker: str, n: int = 6) -> list[str]:
    return [f"Paragraph {i + 1} of the {marker} section. {_FILLER}" for i in range(n)]


def make_pdf(path: Path) -> Path:
    """One PDF page per marker, each with a heading and enough text to fill viewer pages."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    for number, marker in enumerate(MARKERS["pdf"], start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, f"Chapter {number}: the {marker} report", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for paragraph in _paragraphs(marker):
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(2)
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    from docx import Document

    doc = Document()
    doc.core_properties.title = "Field notes"
    doc.add_heading("Field notes", level=0)
    for marker in MARKERS["docx"][:-1]:
        doc.add_heading(f"Section {marker}", level=1)
        for paragraph in _paragraphs(marker):
            doc.add_paragraph(paragraph)
    last = MARKERS["docx"][-1]
    doc.add_heading("Measurements", level=1)
    table = doc.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [["site", "depth", "tag"], ["north", "12.5", last], ["south", "8.0", "plain"]]
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    doc.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    """Two sheets; the marker sits in the last row of each."""
    from openpyxl import Workbook

    wb = Workbook()
    sales = wb.active
    sales.title = "Sales"
    sales.append(["month", "region", "units", "note"])
    for i in range(40):
        sales.append([f"2024-{i % 12 + 1:02d}", ["north", "south", "east"][i % 3], 100 + i, "ok"])
    sales.append(["2025-01", "west", 999, MARKERS["xlsx"][0]])
    staff = wb.create_sheet("Staff")
    staff.append(["name", "role", "since"])
    for i in range(30):
        staff.append([f"person {i}", "analyst", 2010 + i % 10])
    staff.append(["last person", MARKERS["xlsx"][1], 2024])
    wb.save(str(path))
    return path


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for number, marker in enumerate(MARKERS["pptx"], start=1):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = f"Slide {number}: {marker}"
        body = slide.placeholders[1].text_frame
        body.text = f"The {marker} point, made plainly."
        for paragraph in _paragraphs(marker, n=3):
            body.add_paragraph().text = paragraph
        slide.notes_slide.notes_text_frame.text = f"Speaker notes for {marker}."
    # a text box outside the placeholders, to prove free shapes are read too
    prs.slides[0].shapes.add_textbox(Inches(1), Inches(6), Inches(4), Inches(1)).text = "footer"
    prs.save(str(path))
    return path


def make_csv(path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "city", "population"])
        for i in range(60):
            writer.writerow([i, f"town{i}", 1000 + 17 * i])
        writer.writerow([60, MARKERS["csv"][0], 4242])
    return path


def make_html(path: Path) -> Path:
    first, second = MARKERS["html"]
    body = "".join(f"<p>{p}</p>" for p in _paragraphs(first, n=4))
    path.write_text(
        f"<html><head><title>The {first} page</title></head><body><h1>Welcome</h1>{body}"
        f"<h2>Later</h2><p>The {second} paragraph ends the page.</p>"
        "<script>var hidden = 'never shown';</script></body></html>"
    )
    return path


def make_zip(path: Path) -> Path:
    first, second = MARKERS["zip"]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes/readme.txt", f"The {first} notes.\n")
        zf.writestr("data/table.csv", f"key,value\n{second},1\n")
    return path


def make_png(path: Path) -> Path:
    """A PNG whose text chunks (title, author, description) hold the marker."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Title", f"The {MARKERS['png'][0]} chart")
    info.add_text("Author", "Survey team")
    info.add_text("Description", "Readings per site, 2024")
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, pnginfo=info)
    return path


def make_json(path: Path) -> Path:
    path.write_text(json.dumps({"site": "north", "tag": MARKERS["json"][0], "values": [1, 2, 3]}))
    return path


def make_xml(path: Path) -> Path:
    path.write_text(
        f'<?xml version="1.0"?><sites><site name="{MARKERS["xml"][0]}">7</site></sites>'
    )
    return path


BUILDERS = {
    "pdf": make_pdf,
    "docx": make_docx,
    "xlsx": make_xlsx,
    "pptx": make_pptx,
    "csv": make_csv,
    "html": make_html,
    "zip": make_zip,
    "png": make_png,
    "json": make_json,
    "xml": make_xml,
}


def make_documents(folder: Path) -> dict[str, Path]:
    """Build every document type in `folder`; returns {kind: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    return {kind: build(folder / f"sample.{kind}") for kind, build in BUILDERS.items()}


def make_broken(folder: Path) -> dict[str, Path]:
    """Files that look like a type but are not, and one of no known type."""
    folder.mkdir(parents=True, exist_ok=True)
    broken = {
        "pdf": folder / "broken.pdf",
        "docx": folder / "broken.docx",
        "unknown": folder / "blob.bin",
    }
    broken["pdf"].write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not a pdf body\n")
    broken["docx"].write_bytes(b"PK\x03\x04 this is a truncated zip, not a document")
    broken["unknown"].write_bytes(bytes(range(256)) * 8)
    return broken


_DOCX_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)


def make_docx_bomb(path: Path, megabytes: int = 1024) -> Path:
    """A DOCX of about 1 MB on disk whose document.xml inflates to `megabytes` of spaces."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _DOCX_TYPES)
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0"?><w:document><w:body><w:p><w:r><w:t>')
            chunk = b" " * (1 << 20)
            for _ in range(megabytes):
                fh.write(chunk)
    return path


def make_nested_bomb(path: Path, bomb: Path) -> Path:
    """A plain ZIP (small ratio: the DOCX inside is compressed already) holding a bomb."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.write(bomb, "inner/report.docx")
    return path


def make_big_csv(path: Path, megabytes: int = 20) -> Path:
    """A large, honest CSV: converting it takes markitdown many seconds."""
    row = "1234,some words in a cell,5678.9,another cell of text,more\n"
    with path.open("w") as fh:
        fh.write("a,b,c,d,e\n")
        fh.write(row * (megabytes * (1 << 20) // len(row)))
    return path


@pytest.fixture(scope="session")
def docx_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 GB-unpacked DOCX bomb, built once per session (it takes several seconds)."""
    return make_docx_bomb(tmp_path_factory.mktemp("bomb") / "bomb.docx")


@pytest.fixture
def nested_bomb(tmp_path: Path, docx_bomb: Path) -> Path:
    return make_nested_bomb(tmp_path / "bundle.zip", docx_bomb)


@pytest.fixture
def big_csv(tmp_path: Path) -> Path:
    return make_big_csv(tmp_path / "huge.csv")


@pytest.fixture(scope="session")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every document type, built once per session (read-only: tests must not change them)."""
    return make_documents(tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="session")
def markers() -> dict[str, list[str]]:
    """The marker words of each document's parts, in reading order."""
    return MARKERS


@pytest.fixture
def broken_files(tmp_path: Path) -> dict[str, Path]:
    return make_broken(tmp_path / "broken")
