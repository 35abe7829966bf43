from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.mcp.helpers import TOOL_SERVER


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
