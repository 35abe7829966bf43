"""Scanned PDF pages (pages with no text layer): rendered with pypdfium2 and OCR'd.

Only the first `MAX_CHECKED` pages are looked at and at most `MAX_OCR_PAGES` are OCR'd in
one conversion, within `OCR_BUDGET_S` seconds, so a 10,000-page scan gives a bounded result
that says which pages it covers instead of running for hours. Pages render at 200 dpi,
capped in pixels, so an A0 poster page cannot take the worker's memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from magentic.agents.media.ocr import ocr_image

MAX_CHECKED = 200  # pages whose text layer is checked
MAX_OCR_PAGES = 30  # pages OCR'd per conversion
OCR_BUDGET_S = 90.0  # seconds of OCR per conversion
DPI = 200
MAX_PIXELS = 5000 * 5000
MIN_TEXT_CHARS = 16  # a page with fewer non-space characters has no useful text layer


@dataclass
class ScanResult:
    pages: int
    textless: list[int] = field(default_factory=list)  # 0-based pages with no text layer
    text: str = ""  # "## Page N (scanned; read by OCR)" sections
    note: str = ""  # what was not read, if anything


def textless_pages(path: Path) -> tuple[int, list[int]]:
    """The page count and the 0-based pages (among the first MAX_CHECKED) without text."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        count = len(pdf)
        textless = []
        for i in range(min(count, MAX_CHECKED)):
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                chars = len("".join(textpage.get_text_range().split()))
                textpage.close()
            finally:
                page.close()
            if chars < MIN_TEXT_CHARS:
                textless.append(i)
        return count, textless
    finally:
        pdf.close()


def render_page(path: Path, index: int, dpi: int = DPI):  # -> PIL.Image.Image
    """Page `index` (0-based) as a PIL image, at `dpi` unless that passes MAX_PIXELS."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        page = pdf[index]
        try:
            width, height = page.get_size()  # in points, 72 a inch
            scale = dpi / 72
            if width * height * scale * scale > MAX_PIXELS:
                scale = (MAX_PIXELS / max(width * height, 1.0)) ** 0.5
            return page.render(scale=scale).to_pil()
        finally:
            page.close()
    finally:
        pdf.close()


def ocr_scanned(path: Path, *, all_textless: bool) -> ScanResult:
    """OCR of the pages without a text layer (bounded in pages and time)."""
    count, textless = textless_pages(path)
    result = ScanResult(count, textless)
    if not textless:
        return result
    deadline = time.monotonic() + OCR_BUDGET_S
    sections, done = [], 0
    for index in textless:
        if done >= MAX_OCR_PAGES or time.monotonic() > deadline:
            break
        text = ocr_image(render_page(path, index), timeout_s=max(5.0, deadline - time.monotonic()))
        sections.append(
            f"## Page {index + 1} (scanned; read by OCR)\n\n{text or '(no text found)'}"
        )
        done += 1
    result.text = "\n\n".join(sections)
    unread = [i for i in textless[done:]]
    unchecked = count - min(count, MAX_CHECKED)
    notes = []
    if unread:
        notes.append(
            f"{len(unread)} more scanned pages (from page {unread[0] + 1}) were not OCR'd: "
            f"at most {MAX_OCR_PAGES} pages are read per opening"
        )
    if unchecked and all_textless:
        notes.append(f"pages {MAX_CHECKED + 1} to {count} were not examined")
    if notes:
        result.note = (
            "[" + "; ".join(notes) + ". Ask the ComputerTerminal to OCR the pages you need "
            "(pdftoppm and tesseract are installed).]"
        )
    return result
