"""Which site an address belongs to: its registrable domain ("eTLD+1").

The approval gate's `new_domain` asks before the browser goes to a site not visited before
in the run. A site is what a person means by one: `www.example.co.uk` and
`shop.example.co.uk` are one site (example.co.uk), `alice.github.io` and `bob.github.io`
are two. That takes the Public Suffix List; Debian ships it in the `publicsuffix` package
(scripts/install installs it), and where it is missing a small rule of thumb stands in: the
last two labels, or three under a two-letter country code whose second level is a generic
one (`co.uk`, `com.au`). IP addresses and single-label hosts (`localhost`) are their own site.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

SUFFIX_LISTS = (
    Path("/usr/share/publicsuffix/public_suffix_list.dat"),
    Path("/usr/share/publicsuffix/effective_tld_names.dat"),
)
# Second-level labels that country codes commonly use as public suffixes (the rule of thumb).
_GENERIC_SECOND = {"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "mil"}


@dataclass
class SuffixList:
    rules: set[str] = field(default_factory=set)
    wildcards: set[str] = field(default_factory=set)  # "*.ck" is stored as "ck"
    exceptions: set[str] = field(default_factory=set)  # "!www.ck" is stored as "www.ck"

    @classmethod
    def parse(cls, text: str) -> SuffixList:
        found = cls()
        for line in text.splitlines():
            rule = line.strip().split(" ", 1)[0].lower()
            if not rule or rule.startswith("//"):
                continue
            rule = _ascii(rule)
            if rule.startswith("!"):
                found.exceptions.add(rule[1:])
            elif rule.startswith("*."):
                found.wildcards.add(rule[2:])
            else:
                found.rules.add(rule)
        return found

    def suffix_length(self, labels: list[str]) -> int:
        """How many trailing labels of `labels` are the public suffix."""
        best = 1  # the implicit "*" rule: an unknown TLD is a suffix
        for n in range(1, len(labels) + 1):
            tail = ".".join(labels[-n:])
            if tail in self.exceptions:
                return n - 1
            if tail in self.rules:
                best = max(best, n)
            if n < len(labels) and tail in self.wildcards:
                best = max(best, n + 1)
        return best


@lru_cache(maxsize=1)
def suffix_list() -> SuffixList | None:
    """The system's Public Suffix List, read once (blocking: warm it with `to_thread`)."""
    for path in SUFFIX_LISTS:
        try:
            return SuffixList.parse(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    log.info("no Public Suffix List found: sites are told apart by a rule of thumb")
    return None


def registrable_domain(host: str) -> str:
    """The site `host` belongs to (lowercase, ASCII); the host itself for an IP address or a
    name of one label."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = [label for label in _ascii(host).split(".") if label]
    if len(labels) <= 1:
        return ".".join(labels)
    suffixes = suffix_list()
    if suffixes is not None:
        n = suffixes.suffix_length(labels)
    else:
        n = 2 if len(labels[-1]) == 2 and labels[-2] in _GENERIC_SECOND else 1
    return ".".join(labels[-min(n + 1, len(labels)) :])


def site_of(url: str) -> str | None:
    """The registrable domain of an http(s) URL; None for other schemes (about:, data:)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return registrable_domain(parts.hostname)


def _ascii(name: str) -> str:
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name
