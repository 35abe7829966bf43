"""Looking closer, from the agent's process: a video's frame at a time, a zoomed region of an
image, and OCR of either for models without vision.

Frames come from ffmpeg and OCR from tesseract, each a bounded child process
(`tools_async`); cropping uses Pillow in a worker thread, on images the FileSurfer already
size-checked, with Pillow's decompression-bomb guard on.
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from magentic.agents.media.av import frame_args
from magentic.agents.media.tools_async import run_tool

QUADRANTS = {
    "top-left": (0.0, 0.0, 0.5, 0.5),
    "top-right": (0.5, 0.0, 1.0, 0.5),
    "bottom-left": (0.0, 0.5, 0.5, 1.0),
    "bottom-right": (0.5, 0.5, 1.0, 1.0),
    "top": (0.0, 0.0, 1.0, 0.5),
    "bottom": (0.0, 0.5, 1.0, 1.0),
    "left": (0.0, 0.0, 0.5, 1.0),
    "right": (0.5, 0.0, 1.0, 1.0),
    "center": (0.25, 0.25, 0.75, 0.75),
}
ZOOM_SIDE = 1536  # the crop is scaled so its longer side is this (never more than 4x)


class BadRegion(ValueError):
    """`str()` says what regions there are."""


async def frame_at(path: Path, seconds: float) -> bytes:
    """The video's frame at `seconds` as JPEG (empty when the video is shorter)."""
    return await run_tool(frame_args(path, seconds), timeout_s=60.0)


async def render_pdf_page(path: Path, number: int) -> bytes:
    """Page `number` (from 1) of a PDF as PNG, at most 1600 pixels a side (poppler)."""
    return await run_tool(
        ["pdftoppm", "-f", str(number), "-l", str(number), "-png", "-scale-to", "1600", str(path)],
        timeout_s=60.0,
    )


async def ocr_bytes(data: bytes) -> str:
    """Tesseract's reading of an image given as bytes."""
    from magentic.agents.media.ocr import from_tsv

    png = await asyncio.to_thread(_ocr_ready_png, data)
    out = await run_tool(
        ["tesseract", "stdin", "stdout", "-l", "eng", "--psm", "3", "tsv"],
        timeout_s=60.0,
        input_bytes=png,
    )
    return from_tsv(out.decode("utf-8", "replace"))


def _ocr_ready_png(data: bytes) -> bytes:
    from PIL import Image

    from magentic.agents.media.ocr import prepare

    with Image.open(io.BytesIO(data)) as im:
        buf = io.BytesIO()
        prepare(im).save(buf, format="PNG")
    return buf.getvalue()


def parse_region(
    region: str,
) -> tuple[str, tuple[float, float, float, float] | None, tuple[int, int, int, int] | None]:
    """A named part (fractions) or a pixel box 'x0,y0,x1,y1'; raises BadRegion."""
    name = region.strip().lower().replace(" ", "-").replace("_", "-")
    if name in QUADRANTS:
        return name, QUADRANTS[name], None
    numbers = re.findall(r"-?\d+", region)
    if len(numbers) == 4:
        x0, y0, x1, y1 = (int(n) for n in numbers)
        if x1 > x0 >= 0 and y1 > y0 >= 0:
            return f"box {x0},{y0},{x1},{y1}", None, (x0, y0, x1, y1)
    raise BadRegion(
        f"Unknown region {region!r}: give one of {', '.join(QUADRANTS)}, or a pixel box "
        "'x0,y0,x1,y1' with x1 > x0 and y1 > y0."
    )


def zoom(data: bytes, region: str) -> tuple[bytes, str]:
    """The region cropped and upscaled, as PNG, and a line describing what was cut."""
    from PIL import Image

    name, fractions, box = parse_region(region)
    with Image.open(io.BytesIO(data)) as im:
        im.seek(0)
        width, height = im.size
        if fractions is not None:
            fx0, fy0, fx1, fy1 = fractions
            box = (round(fx0 * width), round(fy0 * height), round(fx1 * width), round(fy1 * height))
        assert box is not None
        x0, y0 = min(box[0], width - 1), min(box[1], height - 1)
        x1, y1 = min(box[2], width), min(box[3], height)
        if x1 <= x0 or y1 <= y0:
            raise BadRegion(f"The box {box} lies outside the {width} x {height} image.")
        crop = im.convert("RGB").crop((x0, y0, x1, y1))
    scale = min(4.0, ZOOM_SIDE / max(crop.size))
    if scale > 1:
        crop = crop.resize(
            (round(crop.width * scale), round(crop.height * scale)), Image.Resampling.LANCZOS
        )
    buf = io.BytesIO()
    crop.save(buf, format="PNG")
    line = (
        f"Zoomed on {name}: pixels ({x0}, {y0}) to ({x1}, {y1}) of the {width} x {height} "
        f"image, shown {scale if scale > 1 else 1:.1f}x."
    )
    return buf.getvalue(), line


async def contact_sheet(path: Path, times: list[float], *, tile_width: int = 480) -> bytes:
    """The frames at `times` tiled three a row, each labelled with its time, as one JPEG
    (one image costs a vision model far fewer tokens than several)."""
    frames = []
    for at in times:
        data = await frame_at(path, at)
        if data:
            frames.append((at, data))
    if not frames:
        return b""
    return await asyncio.to_thread(_tile, frames, tile_width)


def _tile(frames: list[tuple[float, bytes]], tile_width: int) -> bytes:
    from PIL import Image, ImageDraw

    from magentic.agents.media.av import clock

    tiles = []
    for at, data in frames:
        with Image.open(io.BytesIO(data)) as im:
            scale = tile_width / im.width
            tile = im.convert("RGB").resize((tile_width, max(1, round(im.height * scale))))
        ImageDraw.Draw(tile).text((6, 4), clock(at), fill="yellow")
        tiles.append(tile)
    cols = min(3, len(tiles))
    rows = -(-len(tiles) // cols)
    height = max(t.height for t in tiles)
    sheet = Image.new("RGB", (cols * tile_width, rows * height), "black")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % cols) * tile_width, (i // cols) * height))
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=85)
    return buf.getvalue()
