"""Read the written suite back, the way an agent would see it, to compute the truths.

Pages are parsed from their HTML (tables, definition lists, links), PDFs through pdfminer's
text, DOCX through its paragraphs, PNG through its text chunks, XLSX through openpyxl, CSV
through the csv module. A truth built this way cannot disagree with what the artifacts show.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any


class SuiteError(Exception):
    """The suite's data does not support a task as written (ambiguous, missing)."""


@dataclass
class Cell:
    text: str
    href: str | None = None


@dataclass
class HtmlTable:
    caption: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)

    def records(self) -> list[dict[str, Cell]]:
        return [dict(zip(self.header, row, strict=True)) for row in self.rows]


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[HtmlTable] = []
        self.fields: dict[str, str] = {}
        self._cell: Cell | None = None
        self._row: list[Cell] | None = None
        self._in_header = False
        self._text: list[str] | None = None
        self._dt: str | None = None
        self._tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(HtmlTable())
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._in_header = tag == "th"
            self._cell = Cell("")
        elif tag == "a" and self._cell is not None and self._cell.href is None:
            self._cell.href = dict(attrs).get("href")
        if tag in ("caption", "dt", "dd", "td", "th"):
            self._tag, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._text or []).split())
        if tag == "caption":
            self.tables[-1].caption = text
        elif tag == "dt":
            self._dt = text
        elif tag == "dd" and self._dt is not None:
            self.fields[self._dt] = text
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._cell.text = text
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if self._in_header and not table.header:
                table.header = [c.text for c in self._row]
            else:
                table.rows.append(self._row)
            self._row = None
        if tag == self._tag:
            self._tag, self._text = None, None


@dataclass
class Page:
    path: Path
    tables: list[HtmlTable]
    fields: dict[str, str]
    html: str

    def follow(self, href: str) -> Page:
        return read_page((self.path.parent / href).resolve())

    def table(self, caption: str = "") -> HtmlTable:
        found = [t for t in self.tables if t.caption == caption]
        if len(found) != 1:
            raise SuiteError(f"{self.path}: {len(found)} tables captioned {caption!r}")
        return found[0]


def read_page(path: Path) -> Page:
    html = path.read_text(encoding="utf-8")
    parser = _PageParser()
    parser.feed(html)
    return Page(path, parser.tables, parser.fields, html)


def embedded_json(page: Page, name: str) -> Any:
    match = re.search(rf"const {name} = (\{{.*?\}});", page.html)
    if not match:
        raise SuiteError(f"{page.path}: no {name} table in its script")
    return json.loads(match.group(1))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def pdf_text(path: Path) -> str:
    from pdfminer.high_level import extract_text

    return str(extract_text(str(path)))


def docx_text(path: Path) -> str:
    from docx import Document

    return "\n".join(p.text for p in Document(str(path)).paragraphs)


def png_text(path: Path) -> dict[str, str]:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return dict(getattr(image, "text", {}))


def xlsx_rows(path: Path, sheet: str) -> list[tuple[Any, ...]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        return [tuple(row) for row in book[sheet].iter_rows(values_only=True)]
    finally:
        book.close()


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def flat(text: str) -> str:
    """White space collapsed: PDF text wraps lines anywhere."""
    return " ".join(text.split())


def only(items: list[Any], what: str) -> Any:
    if len(items) != 1:
        raise SuiteError(f"expected exactly one {what}, found {len(items)}: {items!r}")
    return items[0]


def unique_max(scores: dict[Any, Any], what: str) -> Any:
    best = max(scores.values())
    return only([k for k, v in scores.items() if v == best], f"largest {what}")


def unique_min(scores: dict[Any, Any], what: str) -> Any:
    least = min(scores.values())
    return only([k for k, v in scores.items() if v == least], f"smallest {what}")
