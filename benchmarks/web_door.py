"""What the web view's lock costs a request: the same view served with and without its door
(host check, session cookie, fetch-site and origin rules, and the peer's uid read from the
kernel's socket table), over real HTTP on 127.0.0.1, for the script and a small run page.

    python benchmarks/web_door.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from harness import ameasure, emit, median, peak_rss_mb


async def _serve(root: Path, *, locked: bool) -> tuple[Any, httpx.AsyncClient]:
    from magentic.ui.web.app import WebView

    view = WebView([root])
    if not locked:  # the same app without its door in front
        view.server.config.app = view.server.config.app.app
    url = await view.start()
    client = httpx.AsyncClient(base_url=url, timeout=30)
    if locked:
        await client.get(view.link())
    return view, client


async def run(repeat: int) -> dict[str, Any]:
    from magentic.events import LedgerUpdated, RunStarted
    from magentic.ui.web import peers

    record: dict[str, Any] = {"bench": "web_door", "repeat": repeat}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "r1"
        run_dir.mkdir()
        lines = [
            RunStarted(task="t", agents=["Coder"], run_id="r1", seq=1),
            LedgerUpdated(replan=0, facts="-", plan="1. Coder: do it", run_id="r1", seq=2),
        ]
        (run_dir / "trace.jsonl").write_text("".join(e.model_dump_json() + "\n" for e in lines))
        for locked in (False, True):
            view, client = await _serve(Path(tmp), locked=locked)
            try:
                for name, path in (("script", "/static/follow.js"), ("page", "/run/0/r1")):

                    async def get(path: str = path, client: httpx.AsyncClient = client) -> None:
                        response = await client.get(path)
                        assert response.status_code == 200, response.status_code

                    samples = await ameasure(get, repeat=repeat, warmup=5)
                    record[f"{name}_{'locked' if locked else 'open'}_ms"] = round(
                        median(samples) * 1000, 3
                    )
            finally:
                await client.aclose()
                await view.stop()
    for name in ("script", "page"):
        record[f"{name}_door_ms"] = round(
            record[f"{name}_locked_ms"] - record[f"{name}_open_ms"], 3
        )
    record["socket_table_lines"] = len(peers.TABLE.read_text().splitlines()) - 1
    record["peak_rss_mb"] = peak_rss_mb()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    emit(asyncio.run(run(args.repeat)))


if __name__ == "__main__":
    main()
