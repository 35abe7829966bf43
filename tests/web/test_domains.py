"""Telling sites apart for the `new_domain` approval kind: with the Public Suffix List (the
system's, as Debian ships it) and with the rule of thumb used where it is missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magentic.agents.web_surfer import domains
from magentic.agents.web_surfer.domains import SuffixList, registrable_domain, site_of
from tests.conftest import require

RULES = """// a few rules in the list's own format
com
uk
co.uk
github.io
*.ck
!www.ck
"""


@pytest.fixture
def suffixes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A small list in place of the system's (our own data, not a library's behaviour)."""
    monkeypatch.setattr(domains, "suffix_list", lambda: SuffixList.parse(RULES))
    yield


def test_the_list_decides_what_a_site_is(suffixes: None) -> None:
    assert registrable_domain("www.shop.example.co.uk") == "example.co.uk"
    assert registrable_domain("alice.github.io") == "alice.github.io"  # a private suffix
    assert registrable_domain("a.b.example.com") == "example.com"
    assert registrable_domain("x.y.ck") == "x.y.ck"  # *.ck: y.ck is a suffix
    assert registrable_domain("www.ck") == "www.ck"  # the exception
    assert registrable_domain("EXAMPLE.com.") == "example.com"


def test_addresses_and_other_schemes() -> None:
    assert registrable_domain("127.0.0.1") == "127.0.0.1"
    assert registrable_domain("[::1]") == "::1"
    assert registrable_domain("localhost") == "localhost"
    assert site_of("http://127.0.0.1:8080/a") == "127.0.0.1"
    assert site_of("about:blank") is None and site_of("data:text/html,hi") is None


def test_without_a_list_a_rule_of_thumb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domains, "suffix_list", lambda: None)
    assert registrable_domain("www.example.co.uk") == "example.co.uk"
    assert registrable_domain("shop.example.com") == "example.com"
    assert registrable_domain("bücher.example.de") == "example.de"


def test_the_systems_list_is_read_when_present() -> None:
    domains.suffix_list.cache_clear()
    found = domains.suffix_list()
    require(found is not None, "the Public Suffix List (apt-get install publicsuffix)")
    assert registrable_domain("news.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("bob.github.io") == "bob.github.io"
