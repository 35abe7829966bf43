"""What a model means by the address it gives `visit_url`.

Models copy links as pages print them: `tides.html`, `../about/`, `/search?q=x`, and also
bare host names such as `example.org/news`. A relative link is resolved against the current
page (as a browser would resolve it in that page); `https://` is added only to what looks
like a host name. `tides.html` is a file next to the current page, not a host called
`tides.html`.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_OPAQUE = ("about:", "data:", "file:", "blob:", "view-source:", "mailto:")
# The last label of a host name: letters (a TLD), or an IPv4 address's digits.
_HOST = re.compile(
    r"^(localhost|\[[0-9a-fA-F:]+\]|(\d{1,3}\.){3}\d{1,3}|([a-zA-Z0-9-]+\.)+[a-zA-Z][a-zA-Z-]{1,62})"
    r"(:\d{1,5})?$"
)
# Endings that name a file, not a top-level domain.
_FILE_ENDINGS = {
    "html", "htm", "xhtml", "php", "asp", "aspx", "jsp", "cgi", "pdf", "txt", "md", "json",
    "xml", "csv", "tsv", "png", "jpg", "jpeg", "gif", "svg", "webp", "zip", "gz", "doc",
    "docx", "xls", "xlsx", "ppt", "pptx", "js", "css", "mp3", "mp4", "wav", "rss",
}  # fmt: skip


def resolve_address(text: str, current: str) -> str | None:
    """The absolute address meant by `text` on the page at `current`; None if not an address."""
    url = text.strip()
    if not url or any(c.isspace() for c in url):
        return None
    if _SCHEME.match(url) or url.lower().startswith(_OPAQUE):
        return url
    if url.startswith("//"):
        return urljoin(current, url) if _web(current) else "https:" + url
    first = re.split(r"[/?#]", url, maxsplit=1)[0]
    looks_like_host = bool(_HOST.match(first)) and first.rsplit(".", 1)[-1].lower() not in (
        _FILE_ENDINGS
    )
    if looks_like_host:
        return "https://" + url
    relative = url.startswith(("/", "./", "../", "?", "#")) or "." in first or "/" in url
    if relative and _web(current):
        return urljoin(current, url)
    return None


def _web(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")
