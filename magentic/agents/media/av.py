"""Audio and video files through ffprobe and ffmpeg: their facts, key frames, audio chunks.

A video's key frames are sampled every few seconds (at most `MAX_FRAMES`, spread over the
whole video) and each is OCR'd, so text shown on screen is readable without vision. The
tools get a time limit each; a truncated or corrupt file ends in ffprobe's own one-line
reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magentic.agents.media.proc import run

MAX_FRAMES = 12
FRAME_TIMEOUT_S = 30.0


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's format and streams, as JSON."""
    out = run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        timeout_s=30.0,
    )
    return json.loads(out or b"{}")


def duration_of(info: dict[str, Any]) -> float:
    try:
        return float(info.get("format", {}).get("duration") or 0.0)
    except ValueError:
        return 0.0


def clock(seconds: float) -> str:
    s = int(seconds)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def describe(path: Path, info: dict[str, Any]) -> str:
    """Duration, container and streams, as Markdown lines."""
    fmt = info.get("format", {})
    lines = [
        f"# {path.name}",
        f"- Duration: {clock(duration_of(info))} ({duration_of(info):.1f} s)",
    ]
    if fmt.get("format_long_name"):
        lines.append(f"- Container: {fmt['format_long_name']}")
    for stream in info.get("streams", []):
        kind = stream.get("codec_type")
        if kind == "audio":
            lines.append(
                f"- Audio: {stream.get('codec_name')}, {stream.get('sample_rate')} Hz, "
                f"{stream.get('channels')} channel(s)"
            )
        elif kind == "video" and stream.get("disposition", {}).get("attached_pic") != 1:
            lines.append(
                f"- Video: {stream.get('codec_name')}, {stream.get('width')} x "
                f"{stream.get('height')}, {stream.get('avg_frame_rate')} frames/s"
            )
    for key, value in (fmt.get("tags") or {}).items():
        if isinstance(value, str) and value.strip():
            lines.append(f"- {key}: {value.strip()[:300]}")
    return "\n".join(lines)


def has_stream(info: dict[str, Any], kind: str) -> bool:
    return any(
        s.get("codec_type") == kind and s.get("disposition", {}).get("attached_pic") != 1
        for s in info.get("streams", [])
    )


def frame_times(duration: float, every_s: float = 5.0, cap: int = MAX_FRAMES) -> list[float]:
    """Sample times: every `every_s` seconds, spread wider so there are at most `cap`."""
    if duration <= 0:
        return [0.0]
    step = max(every_s, duration / cap)
    times: list[float] = []
    t = min(0.5, duration / 2)
    while t < duration and len(times) < cap:
        times.append(round(t, 2))
        t += step
    return times


# Every ffmpeg call: errors only, never reading the terminal, one thread (the worker's CPU
# share is one core).
FFMPEG = ("ffmpeg", "-v", "error", "-nostdin", "-threads", "1")


def frame_args(path: Path, at_s: float, max_side: int = 1280) -> list[str]:
    """ffmpeg's arguments for the frame at `at_s` seconds as JPEG on stdout, scaled down to
    `max_side` (for the worker's key frames and the agent's `view_frame` alike)."""
    return [
        *FFMPEG,
        "-ss",
        f"{max(0.0, at_s):.3f}",
        "-i",
        str(path),
        "-frames:v",
        "1",
        "-vf",
        f"scale='min({max_side},iw)':-2",
        "-f",
        "image2pipe",
        "-c:v",
        "mjpeg",
        "-",
    ]


def grab_frame(path: Path, at_s: float, *, max_side: int = 1280) -> bytes:
    """The frame at `at_s` seconds as JPEG bytes (scaled down to `max_side`)."""
    return run(frame_args(path, at_s, max_side), timeout_s=FRAME_TIMEOUT_S)


def frames_text(path: Path, duration: float, deadline_s: float = 60.0) -> str:
    """Each sampled key frame's OCR text, under a '## Frame at m:ss' heading."""
    import io
    import time

    from PIL import Image

    from magentic.agents.media.ocr import ocr_image

    end = time.monotonic() + deadline_s
    sections = []
    for t in frame_times(duration):
        if time.monotonic() > end:
            sections.append("(the remaining frames were not read: time limit)")
            break
        data = grab_frame(path, t)
        if not data:
            continue
        with Image.open(io.BytesIO(data)) as im:
            text = ocr_image(im, timeout_s=30.0)
        sections.append(f"## Frame at {clock(t)} ({t:.1f} s)\n\n{text or '(no text on screen)'}")
    return "\n\n".join(sections)
