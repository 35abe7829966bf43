"""A paged, searchable text view of local files, for the FileSurfer (no model here).

A model cannot read a 200-page PDF in one go, and should not be handed a file it has no
business reading. So the viewer (1) admits only paths inside the allowed roots, after
resolving `..` and symlinks, (2) converts the file to Markdown once (markitdown, plus Pillow
for image metadata) and caches that by (path, mtime, size), and (3) shows it a page at a
time, pages sized in estimated tokens, with find / find-next that say which page each hit is
on. Every outcome, including every failure, is text the model can act on: the viewer never
raises for a bad path or a bad file.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path

from magentic.agents.file_convert import Document, Refused, Roots, human_size, kind_of
from magentic.agents.file_worker import Converter
from magentic.agents.file_zipguard import ZipLimits
from magentic.text import escape_surrogates

# Each match is about one token of an OpenAI tokenizer: common words are one token and long
# ones a few (so letters go in runs of up to 7), digits go in groups of three, punctuation
# runs ("| --- |", "**") merge in pairs, a run of newlines or spaces is one, and any other
# character (CJK, accents, emoji) one each. Counting matches is done by the regex engine in C.
_TOKEN = re.compile(r"[A-Za-z]{1,7}|\d{1,3}|[!-/:-@\[-`{-~]{1,2}|\n+| {2,}|\S")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token estimate, closer than chars/4 for prose, tables and code.

    tiktoken would need to download its encoding files, which it cannot do everywhere; page
    sizes need to be about right, not exact.
    """
    return len(_TOKEN.findall(text))


def paginate(text: str, page_tokens: int) -> list[tuple[int, int]]:
    """Split `text` into contiguous (start, end) spans of at most about `page_tokens` tokens.

    Pages end between lines while that leaves them at least half full, so tables and
    paragraphs are cut between rows, and before a heading (a new section, sheet or slide)
    that starts in a page's second half rather than just after it; a line too long for a
    page is cut between words.
    """
    spans: list[tuple[int, int]] = []
    start = used = pos = 0
    section: tuple[int, int] | None = None  # (position, tokens before it) of a section start
    after_start = False  # the line before opened a section: "<!-- Slide 3 -->" then "# Title"
    for line in text.split("\n"):
        cost = len(_TOKEN.findall(line)) + 1  # + the newline
        if used + cost > page_tokens and used * 2 >= page_tokens:
            cut, before = section if section and section[1] * 2 >= page_tokens else (pos, used)
            spans.append((start, cut))
            start, used, section = cut, used - before, None
        opens = line.startswith(_SECTION_STARTS)
        if opens and not after_start and pos > start:
            section = (pos, used)
        after_start = opens
        if used + cost <= page_tokens:
            used += cost
        else:
            start, used = _cut_long_line(line, pos, start, used, page_tokens, spans)
            section = None
        pos += len(line) + 1
    if start < len(text) or not spans:
        spans.append((start, len(text)))
    return spans


def _cut_long_line(
    line: str, pos: int, start: int, used: int, page_tokens: int, spans: list[tuple[int, int]]
) -> tuple[int, int]:
    """Cut pages inside one long line, at a space when one is in the page's second half."""
    space_cut: tuple[int, int] | None = None  # (position, tokens used before it)
    for m in _TOKEN.finditer(line):
        here = pos + m.start()
        if m.start() and line[m.start() - 1].isspace():
            space_cut = (here, used)
        if used + 1 > page_tokens:
            cut, before = (
                space_cut if space_cut and space_cut[1] * 2 >= page_tokens else (here, used)
            )
            if cut > start:
                spans.append((start, cut))
            start, used, space_cut = cut, used - before, None
        used += 1
    return start, used + 1


_SECTION_STARTS = ("#", "<!-- Slide number")  # markitdown marks each slide so
_HEADING = re.compile(r"^#{1,6} +(.+)$", re.MULTILINE)
_TABLE_HEAD = re.compile(r"^\|.*\|[ \t]*\n\|[ \t:|-]*-[ \t:|-]*\|[ \t]*$", re.MULTILINE)
_NOT_A_ROW = re.compile(r"\n[^|]")


def _table_header_before(document: Document, start: int) -> str | None:
    """The header and separator rows of the Markdown table a page starts inside, if any."""
    tables = document.tables or []
    i = bisect.bisect_left(tables, (start, "")) - 1
    if i < 0:
        return None
    head_at, head = tables[i]
    inside = head_at + len(head) < start and not _NOT_A_ROW.search(
        document.text, head_at, start - 1
    )
    return head if inside else None


@dataclass(frozen=True)
class View:
    """What an action shows the model. `ok` is False when the action could not be done.

    A file name's undecodable bytes become visible escapes (`caf\\xe9.csv`) here, so the
    text is valid UTF-8 for the model, the trace and the console; `Roots.resolve` maps such
    a name back when the model asks for it.
    """

    text: str
    ok: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", escape_surrogates(self.text))


@dataclass
class _Search:
    query: str
    hits: list[tuple[int, int, int]]  # (start, end, 0-based page) of each match
    index: int = 0
    capped: bool = False  # the search stopped counting at its limit


class FileViewer:
    """One open document (or folder listing) at a time, with a current page and a search.

    The async methods touch the disk (in a worker thread); paging and search work on the
    converted text in memory and are synchronous.
    """

    def __init__(
        self,
        roots: list[Path] | tuple[Path, ...] = (),
        *,
        page_tokens: int = 1500,
        max_file_mb: float = 50.0,
        context_chars: int = 80,
        max_listed_hits: int = 10,
        conversion_timeout_s: float = 120.0,
        conversion_memory_mb: int = 1024,
        zip_limits: ZipLimits | None = None,
        converter: Converter | None = None,
    ) -> None:
        self.roots = Roots(roots)
        self.page_tokens = page_tokens
        self.context_chars = context_chars
        self.max_listed_hits = max_listed_hits
        self.conversion_timeout_s = conversion_timeout_s
        self.converter = converter or Converter(
            max_file_mb=max_file_mb, memory_mb=conversion_memory_mb, zip_limits=zip_limits
        )
        self.document: Document | None = None
        self.page = 0
        self.pages: list[tuple[int, int]] = []
        self._search: _Search | None = None

    # -- opening -----------------------------------------------------------------------

    async def open(self, raw_path: str) -> View:
        """Open a file at its first page (a folder shows its listing).

        The conversion runs in the converter's worker process; at the timeout (or if this
        coroutine is cancelled) that process is killed, so nothing is left running.
        """
        try:
            document = await asyncio.wait_for(
                self._load(raw_path), timeout=self.conversion_timeout_s
            )
        except Refused as refused:
            return View(str(refused), ok=False)
        except asyncio.TimeoutError:  # before OSError: since 3.11 it is one
            seconds = self.conversion_timeout_s
            return View(
                f"Reading {raw_path} took over {seconds:g} s, the limit; the conversion was "
                "stopped. Ask the ComputerTerminal to extract the part you need.",
                ok=False,
            )
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte, an I/O error
            return View(f"Cannot open {raw_path!r}: {exc}.", ok=False)
        return self._show(document)

    async def list_directory(self, raw_path: str | None = None) -> View:
        """Show a folder's entries (no path: the allowed folders and files)."""
        try:
            document = await asyncio.to_thread(self._list, raw_path)
        except Refused as refused:
            return View(str(refused), ok=False)
        except (OSError, ValueError) as exc:
            return View(f"Cannot list {raw_path!r}: {exc}.", ok=False)
        return self._show(document)

    async def _load(self, raw_path: str) -> Document:
        path = await asyncio.to_thread(self.roots.resolve, raw_path)
        if await asyncio.to_thread(path.is_dir):
            return await asyncio.to_thread(lambda: self._prepare(self._listing(path)))
        if not await asyncio.to_thread(path.exists):
            raise Refused(f"No such file: {path}. Use list_directory to see what is there.")
        document = await self.converter.convert(path)
        return await asyncio.to_thread(self._prepare, document)

    async def close(self) -> None:
        """Stop the conversion worker process (converted files stay cached)."""
        await self.converter.close()

    def _prepare(self, document: Document) -> Document:
        """Pages and headings, worked out in the worker thread: a big file takes a while."""
        if self.page_tokens not in document.pages:
            document.pages[self.page_tokens] = paginate(document.text, self.page_tokens)
        if document.headings is None:
            found = _HEADING.finditer(document.text)
            document.headings = [(m.start(), m.group(1).strip()) for m in found]
            found = _TABLE_HEAD.finditer(document.text)
            document.tables = [(m.start(), m.group(0)) for m in found]
        return document

    def _list(self, raw_path: str | None) -> Document:
        return self._prepare(self._list_unprepared(raw_path))

    def _list_unprepared(self, raw_path: str | None) -> Document:
        if raw_path and raw_path.strip():
            path = self.roots.resolve(raw_path)
            if not path.is_dir():
                kind = "a file" if path.exists() else "not there"
                raise Refused(f"{path} is {kind}, not a folder. Use open_path to read a file.")
            return self._listing(path)
        roots = self.roots.paths
        if len(roots) == 1 and roots[0].is_dir():
            return self._listing(roots[0])
        rows = [_row(root, full=True) for root in roots]
        where = Path("(the allowed folders and files)")
        return _table_document("The folders and files you may read:", rows, path=where)

    def _listing(self, folder: Path, limit: int = 500) -> Document:
        """A folder's first entries, folders first; a folder of a million files is read only
        up to `_MAX_SCANNED` entries, so listing it takes bounded time and memory."""
        try:
            scanned = list(itertools.islice(folder.iterdir(), _MAX_SCANNED + 1))
        except OSError as exc:
            raise Refused(f"Cannot list {folder}: {exc.strerror or exc}.") from exc
        more = len(scanned) > _MAX_SCANNED
        entries = sorted(scanned[:_MAX_SCANNED], key=lambda p: (not p.is_dir(), p.name.lower()))
        rows = [_row(entry) for entry in entries[:limit]]
        count = f"over {_MAX_SCANNED}" if more else str(len(entries))
        if len(entries) > limit:
            rows.append(f"({count} entries in all; {len(entries) - limit} more not shown)")
        title = f"Contents of {folder} ({count} entries):"
        return _table_document(title, rows, path=folder)

    # -- paging ------------------------------------------------------------------------

    def show_document(self, document: Document) -> View:
        """Show a document made outside the converter (a media file with its transcript)."""
        return self._show(document)

    def _show(self, document: Document) -> View:
        self.document = document
        self.pages = self._prepare(document).pages[self.page_tokens]  # prepared already
        self.page = 0
        self._search = None
        return View(self.render())

    def render(self, note: str = "") -> str:
        """The header (path, title, type, section, page i of n), then the current page."""
        lead = f"{note}\n" if note else ""
        doc = self.document
        if doc is None:
            return f"{lead}No file is open. Use open_path first."
        start, end = self.pages[self.page]
        n = len(self.pages)
        size = f", {human_size(doc.size)}" if doc.size else ""
        header = f"Path: {doc.path}\nTitle: {doc.title}\nType: {doc.kind}{size}\n"
        section = self._section_at(start)
        if section and not doc.text[start:end].lstrip().startswith(_SECTION_STARTS):
            header += f"Section: {section}\n"
        header += f"Page {self.page + 1} of {n} (about {self.page_tokens} tokens a page)"
        footer = (
            f"[page {self.page + 1} of {n}; page_down for more]"
            if self.page + 1 < n
            else "[end of the document]"
        )
        body = doc.text[start:end].strip("\n") or "(this page is empty)"
        table_head = _table_header_before(doc, start) if body.startswith("|") else None
        if table_head:
            body = f"(the table goes on from the previous page; its header:)\n{table_head}\n{body}"
        return f"{lead}{header}\n---\n{body}\n---\n{footer}"

    def _section_at(self, start: int) -> str | None:
        """The last heading before `start`: the sheet, slide or chapter a page belongs to."""
        headings = self.document.headings if self.document else None
        if not headings:
            return None
        i = bisect.bisect_left(headings, (start, "")) - 1
        return headings[i][1] if i >= 0 else None

    def _refuse(self, note: str) -> View:
        return View(self.render(note), ok=False)

    def page_down(self) -> View:
        if self.document is None:
            return self._refuse("")
        if self.page + 1 >= len(self.pages):
            return self._refuse("Already at the last page.")
        self.page += 1
        return View(self.render())

    def page_up(self) -> View:
        if self.document is None:
            return self._refuse("")
        if self.page == 0:
            return self._refuse("Already at the first page.")
        self.page -= 1
        return View(self.render())

    def go_to_page(self, number: int) -> View:
        if self.document is None:
            return self._refuse("")
        if not 1 <= number <= len(self.pages):
            return self._refuse(
                f"There is no page {number}: pages run from 1 to {len(self.pages)}."
            )
        self.page = number - 1
        return View(self.render())

    # -- search ------------------------------------------------------------------------

    def find(self, query: str, *, max_hits: int = 1000) -> View:
        """Find `query` in the whole document (case and spacing ignored) and go to the first
        match at or after the current page; every match is listed with its page."""
        doc = self.document
        if doc is None:
            return self._refuse("")
        words = query.split()
        if not words:
            return self._refuse("Give some text to find.")
        pattern = re.compile(r"\s+".join(map(re.escape, words)), re.IGNORECASE)
        starts = [s for s, _ in self.pages]
        hits = []
        for m in pattern.finditer(doc.text):
            hits.append((m.start(), m.end(), bisect.bisect_right(starts, m.start()) - 1))
            if len(hits) >= max_hits:
                break
        if not hits:
            self._search = None
            pages = len(self.pages)
            return View(self.render(f"No match for {query!r} in {doc.path.name} ({pages} pages)."))
        here = self.pages[self.page][0]
        index = next((i for i, h in enumerate(hits) if h[0] >= here), 0)
        self._search = _Search(query, hits, index, capped=len(hits) >= max_hits)
        return self._show_hit()

    @property
    def search(self) -> _Search | None:
        """The search in progress (for a checkpoint), if any."""
        return self._search

    def resume_search(self, index: int) -> None:
        """After `find` again on a resumed run: stand on the match it had reached."""
        if self._search is not None and self._search.hits:
            self._search.index = min(max(index, 0), len(self._search.hits) - 1)

    def find_next(self) -> View:
        search = self._search
        if search is None:
            return self._refuse("No search to continue: use find_on_page first.")
        search.index = (search.index + 1) % len(search.hits)
        return self._show_hit(" (wrapped around to the first)" if search.index == 0 else "")

    def _show_hit(self, wrapped: str = "") -> View:
        assert self._search is not None
        search = self._search
        total = len(search.hits)
        self.page = search.hits[search.index][2]
        counted = f"{total}{' (the limit)' if search.capped else ''}"
        lines = [
            f"Found {counted} match{'es' if total != 1 else ''} for {search.query!r}; "
            f"showing match {search.index + 1} of {total}, on page {self.page + 1}{wrapped}."
        ]
        first = max(0, min(search.index - self.max_listed_hits // 2, total - self.max_listed_hits))
        for i in range(first, min(total, first + self.max_listed_hits)):
            start, end, page = search.hits[i]
            mark = "  <- shown" if i == search.index else ""
            lines.append(f"  {i + 1}. page {page + 1}: {self._context(start, end)}{mark}")
        if total > self.max_listed_hits:
            lines.append(f"  ({total - self.max_listed_hits} more not listed; find_next walks on)")
        return View(self.render("\n".join(lines)))

    def _context(self, start: int, end: int) -> str:
        """The match in bold with some text either side, on one line."""
        text = self.document.text if self.document else ""
        lo, hi = max(0, start - self.context_chars), min(len(text), end + self.context_chars)
        before, match, after = (
            " ".join(part.split()) for part in (text[lo:start], text[start:end], text[end:hi])
        )
        dots_before, dots_after = ("..." if lo else ""), ("..." if hi < len(text) else "")
        return f"{dots_before}{before} **{match}** {after}{dots_after}".strip()

    def reset(self) -> None:
        """Forget the open document and the search; keep the conversion cache."""
        self.document, self.page, self.pages, self._search = None, 0, [], None

    @property
    def state(self) -> str:
        """One line on what is open, for the model's prompt."""
        if self.document is None:
            return "No file is open."
        return f"Open: {self.document.path}, page {self.page + 1} of {len(self.pages)}."


def _table_document(title: str, rows: list[str], *, path: Path) -> Document:
    text = f"{title}\n\n| name | type | size | modified |\n| --- | --- | --- | --- |\n"
    return Document(path, "folder", path.name or str(path), text + "\n".join(rows), 0)


_MAX_SCANNED = 10_000  # entries of a listed folder read at most
_MAX_COUNTED = 1_000  # entries counted in each subfolder of a listing


def _row(entry: Path, *, full: bool = False) -> str:
    name = str(entry) if full else entry.name
    try:
        st = entry.stat()
    except OSError:
        return f"| {name} | broken link | | |"
    modified = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
    if entry.is_dir():
        try:
            n = sum(1 for _ in itertools.islice(entry.iterdir(), _MAX_COUNTED + 1))
            count = f"over {_MAX_COUNTED} entries" if n > _MAX_COUNTED else f"{n} entries"
        except OSError:
            count = "unreadable"
        return f"| {name}/ | folder | {count} | {modified} |"
    link = " (link)" if entry.is_symlink() else ""
    return f"| {name} | {kind_of(entry)}{link} | {human_size(st.st_size)} | {modified} |"
