"""Finding a Chromium to drive.

Order: a configured path, $MAGENTIC_CHROMIUM, Playwright's managed browser, then the
system's (`chromium`, `chromium-browser`, `google-chrome`). A path the person named must
exist: falling back silently would run a different browser than the one they asked for.

`python -m magentic.agents.web_surfer.locate` prints the path found (exit 0) or says what
is missing (exit 1); `scripts/install --browser` relies on that.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from magentic.errors import BrowserError

ENV_VAR = "MAGENTIC_CHROMIUM"
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SYSTEM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def _runnable(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_file() and os.access(p, os.X_OK)


def find_chromium(
    configured: str | None = None, *, managed: str | Callable[[], str | None] | None = None
) -> str:
    """The Chromium executable to launch; BrowserError when there is none.

    `managed` is the path Playwright reports for its own browser (it may not be installed),
    or a function that asks for it: asking needs Playwright's driver running, which takes a
    second, so it is asked only when no configured path decides.
    """
    for source, path in (("configured", configured), (f"${ENV_VAR}", os.environ.get(ENV_VAR))):
        if path:
            if _runnable(path):
                return str(path)
            raise BrowserError(f"the {source} Chromium path {path} is not an executable file")
    if callable(managed):
        managed = managed()
    if managed and _runnable(managed):
        return managed
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    for path in SYSTEM_PATHS:
        if _runnable(path):
            return path
    raise BrowserError(
        "no Chromium found: run `scripts/install --browser`, or set "
        f"{ENV_VAR} (or [web] executable_path) to a Chromium or Chrome executable"
    )


def managed_chromium_path() -> str | None:
    """Where Playwright keeps its own Chromium (whether or not it is downloaded)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as p:
            return str(p.chromium.executable_path)
    except Exception:  # the driver failed to start: then there is no managed browser either
        return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    configured = args[0] if args else None
    try:
        path = find_chromium(configured, managed=managed_chromium_path)
    except BrowserError as error:
        print(f"locate: {error.reason}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
