from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mcp.helpers import TOOL_SERVER


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records of running servers go to the test's own folder (the subprocesses a test
    starts inherit it), never to the user's state folder."""
    monkeypatch.setenv("MAGENTIC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def http_url() -> Iterator[str]:
    """The test tool server over streamable HTTP on a free local port: its URL."""
    server = subprocess.Popen(
        [sys.executable, str(TOOL_SERVER), "http"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        server.kill()
        server.wait()
