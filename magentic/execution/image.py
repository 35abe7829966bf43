"""Is the sandbox image there, and was it built from the sandbox/ folder as it is now?

sandbox/build.sh labels the image with a hash of its inputs; this computes the same hash,
so `magentic doctor` can say "rebuild" before a run finds out the hard way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HASH_LABEL = "magentic.sandbox.hash"
# The order is build.sh's `cat Dockerfile requirements.txt build.sh .dockerignore`.
INPUTS = ("Dockerfile", "requirements.txt", "build.sh", ".dockerignore")


def sandbox_dir() -> Path | None:
    """The sandbox/ folder of the checkout magentic runs from (absent in a wheel install)."""
    folder = Path(__file__).resolve().parents[2] / "sandbox"
    return folder if (folder / "Dockerfile").is_file() else None


def input_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ImageStatus:
    present: bool
    current: bool | None  # None: no sandbox/ folder to compare with
    size_mb: float = 0.0
    built_hash: str = ""
    expected_hash: str = ""


def image_status(api: Any, image: str) -> ImageStatus:
    """Blocking (Docker SDK); `api` is a docker APIClient."""
    import docker.errors

    folder = sandbox_dir()
    expected = input_hash(folder) if folder else ""
    try:
        info = api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return ImageStatus(False, False if folder else None, expected_hash=expected)
    labels = (info.get("Config") or {}).get("Labels") or {}
    built = labels.get(HASH_LABEL, "")
    return ImageStatus(
        present=True,
        current=(built == expected) if folder else None,
        size_mb=round(info.get("Size", 0) / 1e6, 1),
        built_hash=built,
        expected_hash=expected,
    )
