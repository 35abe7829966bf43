"""Text in an image, by Tesseract OCR (Debian's tesseract-ocr; run as a tool, no binding).

Images are turned grey and bounded in size before OCR: a 20,000 x 20,000 scan would need
gigabytes, and past a few thousand pixels a side more resolution no longer helps reading.
Small images are scaled up, since Tesseract reads letters about 20-40 pixels high best.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from magentic.agents.media.proc import run

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_OCR_SIDE = 5000  # longest side handed to Tesseract
MIN_OCR_SIDE = 1000  # smaller images are upscaled to this (shortest side)


def prepare(image: Image) -> Image:
    """A greyscale copy sized for OCR."""
    from PIL import Image as PILImage

    grey = image.convert("L")
    longest, shortest = max(grey.size), min(grey.size)
    scale = 1.0
    if longest > MAX_OCR_SIDE:
        scale = MAX_OCR_SIDE / longest
    elif shortest < MIN_OCR_SIDE:
        scale = min(3.0, MIN_OCR_SIDE / max(shortest, 1), MAX_OCR_SIDE / longest)
    if scale != 1.0:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, PILImage.Resampling.LANCZOS)
    return grey


MIN_CONFIDENCE = 45.0  # Tesseract's per-word confidence (0-100); below it is mostly noise


def ocr_image(image: Image, *, timeout_s: float = 60.0, lang: str = "eng") -> str:
    """The text Tesseract reads in `image` (page segmentation: automatic), tidied."""
    buf = io.BytesIO()
    prepare(image).save(buf, format="PNG")
    out = run(
        ["tesseract", "stdin", "stdout", "-l", lang, "--psm", "3", "tsv"],
        timeout_s=timeout_s,
        input_bytes=buf.getvalue(),
    )
    return from_tsv(out.decode("utf-8", "replace"))


def from_tsv(tsv: str) -> str:
    """Lines of the words Tesseract is fairly sure of: a photo's texture read as letters
    comes with low confidence and is dropped, so a picture without text reads as none."""
    lines: dict[tuple[str, str, str, str], list[str]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        try:
            confidence = float(cols[10])
        except ValueError:
            continue
        key = (cols[1], cols[2], cols[3], cols[4])  # page, block, paragraph, line
        words = lines.setdefault(key, [])
        if confidence >= MIN_CONFIDENCE:
            words.append(cols[11].strip())
    out: list[str] = []
    last_block: tuple[str, str] | None = None
    for (page, block, _par, _line), words in lines.items():
        if not words:
            continue
        if last_block is not None and (page, block) != last_block:
            out.append("")
        out.append(" ".join(words))
        last_block = (page, block)
    return tidy("\n".join(out))


def tidy(text: str) -> str:
    """Trailing spaces and runs of blank lines (and Tesseract's form feeds) removed."""
    lines = [line.rstrip() for line in text.replace("\f", "\n").splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
