"""How fast the FileSurfer's viewer opens, pages and searches files. Prints ONE JSON line.

    .venv/bin/python benchmarks/file_view.py [--repeat N]

- `first_open_ms`: the first open in a fresh process (starts the conversion worker process,
  which imports markitdown, about 1.5 s).
- `open_ms.<kind>`: median ms to resolve, convert and show the first page of each document
  type the tests use, with an empty cache (a fresh viewer each time, on the running worker).
- `reopen_cached_ms`: opening an unchanged file again (the cache hit path).
- `media`: audio, video, OCR and hostile-file numbers (see benchmarks/media_view.py).
- `page_turn_ms`, `find_ms`, `find_next_ms`: on a large document (`big_doc_chars` of Markdown,
  `big_doc_pages` pages of 1,500 tokens); `paginate_ms`: splitting it into pages.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from harness import ameasure, emit, measure, median, peak_rss_mb
from media_view import media_numbers

from magentic.agents.file_viewer import FileViewer, paginate

ROOT = Path(__file__).resolve().parent.parent


def _documents_module():
    """The tests' document builders, so the benchmark reads exactly what the tests read."""
    path = ROOT / "tests" / "agents" / "conftest.py"
    spec = importlib.util.spec_from_file_location("file_documents", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _big_markdown(folder: Path) -> Path:
    """About 1 MB of prose and tables with one rare word near the end."""
    parts = []
    for section in range(200):
        parts.append(f"## Section {section}\n")
        parts.append(
            "The survey team logged every reading twice and kept the better copy. " * 40 + "\n"
        )
        parts.append("| site | depth | tag |\n| --- | --- | --- |\n")
        parts.extend(f"| site {i} | {i * 1.5:.1f} | t{i} |\n" for i in range(20))
    parts.insert(-10, "The needle-word quillsparrow hides here.\n")
    path = folder / "big.md"
    path.write_text("".join(parts))
    return path


async def main(repeat: int) -> dict[str, object]:
    docs = _documents_module()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = docs.make_documents(folder)
        big = _big_markdown(folder)

        started = time.perf_counter()
        first_viewer = FileViewer([folder])
        first = await first_viewer.open(str(paths["pdf"]))
        first_open_ms = (time.perf_counter() - started) * 1000
        assert first.ok, first.text
        converter = first_viewer.converter  # its worker process is running now

        open_ms = {}
        for kind, path in paths.items():

            async def cold(path: Path = path) -> None:
                converter.clear_cache()
                view = await FileViewer([folder], converter=converter).open(str(path))
                assert view.ok, view.text

            open_ms[kind] = round(median(await ameasure(cold, repeat=repeat, warmup=0)) * 1000, 2)

        viewer = FileViewer([folder])
        await viewer.open(str(paths["xlsx"]))
        reopen = await ameasure(lambda: viewer.open(str(paths["xlsx"])), repeat=repeat * 4)

        view = await viewer.open(str(big))
        assert view.ok, view.text
        text = viewer.document.text if viewer.document else ""
        pages = len(viewer.pages)

        def turn() -> None:
            if not viewer.page_down().ok:
                viewer.go_to_page(1)

        page_turn = measure(turn, repeat=repeat * 20)
        viewer.go_to_page(1)
        find = measure(lambda: viewer.find("quillsparrow"), repeat=repeat * 2)
        viewer.find("survey team")
        find_next = measure(viewer.find_next, repeat=repeat * 20)
        paginate_s = measure(lambda: paginate(text, 1500), repeat=repeat)
        await viewer.close()
        await converter.close()

    return {
        "bench": "file_view",
        "repeat": repeat,
        "first_open_ms": round(first_open_ms, 1),
        "open_ms": open_ms,
        "reopen_cached_ms": round(median(reopen) * 1000, 3),
        "big_doc_chars": len(text),
        "big_doc_pages": pages,
        "page_turn_ms": round(median(page_turn) * 1000, 3),
        "find_ms": round(median(find) * 1000, 2),
        "find_next_ms": round(median(find_next) * 1000, 3),
        "paginate_ms": round(median(paginate_s) * 1000, 1),
        "peak_rss_mb": peak_rss_mb(),
        "media": await media_numbers(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("measuring the file viewer...", file=sys.stderr)
    emit(asyncio.run(main(args.repeat)))
