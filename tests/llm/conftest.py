from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .helpers import OPEN_CLIENTS


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    """Close every client a test made while its event loop still runs."""
    yield
    while OPEN_CLIENTS:
        await OPEN_CLIENTS.pop().close()
