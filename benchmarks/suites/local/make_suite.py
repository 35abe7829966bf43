#!/usr/bin/env python3
"""Generate the local benchmark suite, compute its truths, and check a copy against them.

    python benchmarks/suites/local/make_suite.py           # regenerate this folder in place
    python benchmarks/suites/local/make_suite.py --check   # regenerate elsewhere and compare
    python benchmarks/suites/local/make_suite.py --out DIR # write a fresh copy to DIR

The sites and attached files are rendered from _gen/world.py; then every truth is computed by
reading those artifacts back (_gen/tasks.py), and metadata.jsonl is written in GAIA's format.
`--check` exits 1 when the folder differs from a fresh build: text files byte for byte,
binary files by content (zip members, PDF text, PNG pixels and text chunks), since their
compressed bytes may vary with library versions. Needs the dev extras (fpdf2, openpyxl,
python-docx, Pillow, pdfminer from markitdown[pdf]).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _gen.files import write_files  # noqa: E402
from _gen.readers import pdf_text, png_text  # noqa: E402
from _gen.tasks import TASKS  # noqa: E402
from _gen.websites import write_sites  # noqa: E402
from _gen.world import random_data  # noqa: E402

GENERATOR = {"make_suite.py", "_gen", "__pycache__"}


def build(root: Path) -> list[dict[str, object]]:
    """Write sites/, the attached files and metadata.jsonl into `root`; return the rows."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root / "sites", ignore_errors=True)
    data = random_data()
    write_sites(root / "sites", data)
    write_files(root, data)
    rows = []
    for task in TASKS:
        if task.file_name and not (root / task.file_name).is_file():
            raise SystemExit(f"task {task.task_id}: no file {task.file_name}")
        steps = [s.strip() for s in task.steps.split(";")]
        tools = [t.strip() for t in task.tools.split(",")]
        rows.append(
            {
                "task_id": task.task_id,
                "Question": task.question,
                "Level": task.level,
                "Final answer": task.truth(root),
                "file_name": task.file_name,
                "Annotator Metadata": {
                    "Steps": "\n".join(f"{n}. {s}" for n, s in enumerate(steps, start=1)),
                    "Number of steps": str(len(steps)),
                    "Tools": "\n".join(f"{n}. {t}" for n, t in enumerate(tools, start=1)),
                    "Number of tools": str(len(tools)),
                },
            }
        )
    with (root / "metadata.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return rows


def suite_files(root: Path) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts[0] not in GENERATOR
    }


def fingerprint(path: Path) -> str:
    """What must match between two builds: content, not incidental compressed bytes."""
    suffix = path.suffix.lower()
    digest = hashlib.sha256()
    if suffix in (".xlsx", ".docx"):
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                digest.update(name.encode() + b"\0" + archive.read(name))
    elif suffix == ".pdf":
        digest.update(pdf_text(path).encode())
    elif suffix == ".png":
        from PIL import Image

        with Image.open(path) as image:
            digest.update(f"{image.mode}{image.size}".encode() + image.tobytes())
        digest.update(json.dumps(png_text(path), sort_keys=True).encode())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def check(root: Path) -> list[str]:
    """Differences between `root` and a fresh build, as readable lines (empty: all good)."""
    with tempfile.TemporaryDirectory(prefix="local-suite-") as scratch:
        fresh = Path(scratch)
        build(fresh)
        ours, theirs = suite_files(root), suite_files(fresh)
        problems = [f"missing from the suite: {name}" for name in sorted(theirs - ours)]
        problems += [f"not made by the generator: {name}" for name in sorted(ours - theirs)]
        for name in sorted(ours & theirs):
            if fingerprint(root / name) != fingerprint(fresh / name):
                problems.append(f"differs from a fresh build: {name}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with a fresh build")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: here)")
    args = parser.parse_args()
    if args.check:
        problems = check(args.out)
        for line in problems:
            print(line)
        print("suite matches a fresh build" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    rows = build(args.out)
    for row in rows:
        print(f"L{row['Level']}  {row['task_id']:<28} {row['Final answer']}")
    print(f"{len(rows)} tasks written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
