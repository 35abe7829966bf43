"""Paths from data we did not write, taken without following a symbolic link.

A run folder's checkpoint (or a workspace the sandbox could write) may name a path or plant
a link; the host then reads only inside the root it was given, never through a link.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from magentic import safe_fs


def read_file(path: Path, limit: int | None = None) -> bytes:
    """A file's bytes, refusing a link at its last component (the folders above were
    checked by `check_run_folder`). Blocking."""
    with safe_fs.open_nofollow(path) as handle:
        return handle.read() if limit is None else handle.read(limit)


def inside(path: str | Path, root: Path) -> Path | None:
    """`path` (relative to `root`, or absolute) as an absolute path if it lies inside
    `root` with no symbolic link anywhere on the way from `root`; else None. A path that
    does not exist yet counts by its existing part."""
    root = Path(os.path.abspath(root))
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    candidate = Path(os.path.abspath(candidate))  # ".." resolved by text, links not followed
    try:
        relative = candidate.relative_to(root)
    except ValueError:
        return None
    here = root
    for part in relative.parts:
        here = here / part
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return None
        except FileNotFoundError:
            break
        except OSError:
            return None
    return candidate


def within(path: str | Path, roots: list[Path], files: list[Path]) -> Path | None:
    """`path` if it lies inside one of `roots` or is one of `files`, with no link on the
    way (see `inside`); else None. Blocking."""
    for root in roots:
        found = inside(path, root)
        if found is not None:
            return found
    wanted = os.path.abspath(path)
    for file in files:
        if os.path.abspath(file) == wanted:
            return inside(wanted, Path(wanted).parent)
    return None
