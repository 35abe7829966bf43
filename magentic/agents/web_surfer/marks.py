"""Set-of-marks: numbered boxes over the interactive elements, so a vision model can name
what it wants to click by its id.

The screenshot is scaled down to `max_width` before drawing (labels stay legible, and the
image costs fewer tokens: 1024x576 is 4 tiles under OpenAI's formula where 1280x720 is 6),
then encoded as JPEG or WebP. In headed mode the same marks are also drawn into the page
itself for the person watching (page.js `showMarks`), in an overlay that takes no clicks.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

PALETTE = [
    (230, 25, 75),
    (0, 130, 200),
    (60, 160, 60),
    (245, 130, 48),
    (145, 30, 180),
    (0, 128, 128),
    (200, 40, 200),
    (128, 0, 0),
    (0, 0, 128),
    (170, 110, 40),
]
MIMES = {"jpeg": "image/jpeg", "webp": "image/webp", "png": "image/png"}


@dataclass(frozen=True)
class Box:
    id: int
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Screenshot:
    data: bytes
    mime: str
    width: int
    height: int


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def color_of(mark_id: int) -> tuple[int, int, int]:
    return PALETTE[mark_id % len(PALETTE)]


def render_screenshot(
    raw: bytes,
    boxes: Sequence[Box],
    *,
    css_width: int,
    fmt: str = "jpeg",
    quality: int = 70,
    max_width: int = 1024,
) -> Screenshot:
    """Scale `raw` (an encoded screenshot), draw the boxes, encode; CPU work, run in a thread."""
    encoded = Image.open(io.BytesIO(raw))
    encoded.draft("RGB", (max_width, math.ceil(max_width * encoded.height / encoded.width)))
    image = encoded.convert("RGB")
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.BILINEAR)
    scale = image.width / max(css_width, 1)
    if boxes:
        _draw(image, boxes, scale)
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, "PNG", compress_level=1)
    elif fmt == "webp":
        image.save(out, "WEBP", quality=quality, method=2)
    else:
        image.save(out, "JPEG", quality=quality)
    return Screenshot(out.getvalue(), MIMES.get(fmt, "image/jpeg"), image.width, image.height)


def _draw(image: Image.Image, boxes: Sequence[Box], scale: float) -> None:
    draw = ImageDraw.Draw(image)
    font = _font(max(11, round(14 * min(scale * 1.1, 1.2))))
    for box in boxes:
        color = color_of(box.id)
        x0, y0 = box.x * scale, box.y * scale
        x1, y1 = (box.x + box.w) * scale, (box.y + box.h) * scale
        draw.rectangle((x0, y0, x1, y1), outline=color, width=2)
        label = str(box.id)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tw, th = right - left + 6, bottom - top + 4
        lx = min(max(x0, 0), image.width - tw)
        ly = y0 - th if y0 - th >= 0 else max(y0, 0)  # above the box when there is room
        draw.rectangle((lx, ly, lx + tw, ly + th), fill=color)
        draw.text((lx + 3 - left, ly + 2 - top), label, fill=(255, 255, 255), font=font)


def page_marks(boxes: Sequence[Box]) -> list[dict[str, object]]:
    return [
        {"id": b.id, "x": b.x, "y": b.y, "w": b.w, "h": b.h, "color": _css(color_of(b.id))}
        for b in boxes
    ]


def _css(color: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*color)
