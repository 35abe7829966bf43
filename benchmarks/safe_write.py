"""What writing through `safe_fs` costs against a plain write by name, per file.

One small file (4 KB) at depth 3 in a workspace-like folder, written N times each way:
`safe_fs.create` (a descriptor walk with O_NOFOLLOW, O_EXCL) and `open(path, "xb")`.
Prints one JSON line: the median microseconds per file of each, and the difference.

    PYTHONPATH=. python benchmarks/safe_write.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from magentic import safe_fs

N = 2000
DATA = b"x" * 4096


def _median_us(write) -> float:  # write(i) makes file number i
    times = []
    for i in range(N):
        start = time.perf_counter()
        write(i)
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a" / "b" / "c").mkdir(parents=True)

        def plain(i: int) -> None:
            with open(root / "a" / "b" / "c" / f"plain-{i}", "xb") as out:
                out.write(DATA)

        def safe(i: int) -> None:
            with safe_fs.create(root, f"a/b/c/safe-{i}", parents=False) as out:
                out.write(DATA)

        plain_us, safe_us = _median_us(plain), _median_us(safe)
    print(
        json.dumps(
            {
                "benchmark": "safe_write",
                "files": N,
                "plain_us": round(plain_us, 1),
                "safe_us": round(safe_us, 1),
                "extra_us": round(safe_us - plain_us, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
