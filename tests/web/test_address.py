"""What `visit_url` opens for the addresses models write."""

from __future__ import annotations

import pytest

from magentic.agents.web_surfer.address import resolve_address

HERE = "http://127.0.0.1:8123/articles/alpha.html?x=1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tides.html", "http://127.0.0.1:8123/articles/tides.html"),
        ("../index.html", "http://127.0.0.1:8123/index.html"),
        ("/search?q=lake", "http://127.0.0.1:8123/search?q=lake"),
        ("?page=2", "http://127.0.0.1:8123/articles/alpha.html?page=2"),
        ("#history", "http://127.0.0.1:8123/articles/alpha.html?x=1#history"),
        ("beta/notes.txt", "http://127.0.0.1:8123/articles/beta/notes.txt"),
        ("example.org", "https://example.org"),
        ("www.example.org/news?id=3", "https://www.example.org/news?id=3"),
        ("localhost:8000/x", "https://localhost:8000/x"),
        ("http://example.org/a", "http://example.org/a"),
        ("about:blank", "about:blank"),
        ("alpha peak height", None),
        ("", None),
    ],
)
def test_addresses(text: str, expected: str | None) -> None:
    assert resolve_address(text, HERE) == expected


def test_relative_links_need_a_web_page_to_resolve_against() -> None:
    assert resolve_address("tides.html", "about:blank") is None
    assert resolve_address("example.org", "about:blank") == "https://example.org"
