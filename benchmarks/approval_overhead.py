"""What action approval costs a browser action that needs no one's approval. Prints ONE JSON line.

    .venv/bin/python benchmarks/approval_overhead.py [--repeat N]

Real headless Chromium on the tests' local sites. Under the default `[approval]` table every
click and Enter is read for what it would do (page.js `actionInfo`), and while it runs a
context route holds POSTs for the gate (routing also turns the HTTP cache off for that
action). Each sample is one action and its settling, with and without the gate, on the same
pages, alternated so both see the same machine:

- `click`: a button that changes the DOM (form.html's counter);
- `type_submit`: type into a GET search box and press Enter (a navigation, not asked about);
- `click_link`: a same-site link that navigates.

`<action>_ms` / `<action>_gated_ms` are medians; `<action>_overhead_ms` their difference.
Target: <= 50 ms added per action. Reading the element costs one page call (a few ms); the
rest is the backstop route, through which every request the action causes passes (and
which turns the HTTP cache off for the action), so navigations pay more than clicks.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import emit, median, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from magentic.agents.base import StepContext  # noqa: E402
from magentic.agents.web_surfer.actions import Actions  # noqa: E402
from magentic.agents.web_surfer.approval import WebApprovals  # noqa: E402
from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession  # noqa: E402
from magentic.agents.web_surfer.observe import Observation, observe  # noqa: E402
from magentic.agents.web_surfer.settings import (  # noqa: E402
    UrlPolicySettings,
    WebSurferSettings,
)
from magentic.control.channel import ControlChannel  # noqa: E402
from magentic.control.gate import ApprovalGate  # noqa: E402
from magentic.control.settings import ApprovalSettings  # noqa: E402
from magentic.events import EventBus  # noqa: E402
from magentic.llm.messages import ToolCall  # noqa: E402
from tests.web.site_server import serve_two_sites  # noqa: E402


def _id(seen: Observation, name: str) -> int:
    return next(e.id for e in seen.state.elements if name.lower() in e.name.lower())


async def run(repeat: int) -> dict[str, Any]:
    with serve_two_sites() as (site, _), tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        host = site.split("://", 1)[1]
        settings = WebSurferSettings(url_policy=UrlPolicySettings(allow=[host]))
        pool = BrowserPool(settings)
        session = BrowserSession(pool, settings, downloads_dir=workspace)
        await session.start()
        actions = Actions(session, settings, workspace=workspace)
        approvals = WebApprovals(session, settings, agent="WebSurfer")
        bus = EventBus("bench")
        control = ControlChannel(bus)
        ctx = StepContext(
            task="bench",
            conversation=[],
            workspace=workspace,
            events=bus,
            control=control,
            gate=ApprovalGate(ApprovalSettings(), control),
        )
        await approvals.begin(ctx)

        async def look() -> Observation:
            page = await session.ready_page()
            return await observe(session, page, settings, screenshot=False)

        async def act(gated: bool, name: str, seen: Observation, **args: Any) -> float:
            approvals.ctx = ctx if gated else None  # no context: no gate, no route
            begin = time.perf_counter()
            if gated:
                refused = await approvals.before(ToolCall("b", name, args), seen, actions)
                assert refused is None, refused.error
            result = await actions.run(name, args)
            took = (time.perf_counter() - begin) * 1000
            if result.error:
                raise RuntimeError(f"{name} failed: {result.error}")
            return took

        samples: dict[str, list[float]] = {}
        for i in range(repeat + 2):  # the first two rounds warm caches and code
            for gated in (i % 2 == 0, i % 2 == 1):
                tag = "_gated" if gated else ""
                await actions.run("visit_url", {"url": f"{site}/form.html"})
                seen = await look()
                click = await act(gated, "click", seen, target_id=_id(seen, "Click counter"))
                await actions.run("visit_url", {"url": f"{site}/search.html"})
                seen = await look()
                box = _id(seen, "Search terms")
                typed = await act(
                    gated, "input_text", seen, target_id=box, text="lake", submit=True
                )
                await actions.run("visit_url", {"url": f"{site}/links.html"})
                seen = await look()
                link = await act(gated, "click", seen, target_id=_id(seen, "Alpha article"))
                if i >= 2:
                    for name, value in (
                        ("click", click),
                        ("type_submit", typed),
                        ("click_link", link),
                    ):
                        samples.setdefault(name + tag, []).append(value)
        await session.close()
        await pool.close()

    record: dict[str, Any] = {"bench": "approval_overhead", "n": repeat}
    worst = 0.0
    for name in ("click", "type_submit", "click_link"):
        plain_ms, gated_ms = median(samples[name]), median(samples[name + "_gated"])
        record[f"{name}_ms"] = round(plain_ms, 1)
        record[f"{name}_gated_ms"] = round(gated_ms, 1)
        record[f"{name}_overhead_ms"] = round(gated_ms - plain_ms, 1)
        worst = max(worst, gated_ms - plain_ms)
    record["targets_met"] = {"overhead_le_50ms": worst <= 50}
    record["peak_rss_mb"] = peak_rss_mb()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    emit(asyncio.run(run(args.repeat)))


if __name__ == "__main__":
    main()
