"""What action approval costs a browser action that needs no one's approval. Prints ONE JSON line.

    .venv/bin/python benchmarks/approval_overhead.py [--repeat N]

Real headless Chromium on the tests' local sites, two sessions on one browser: "off" has
neither the gate nor the session-wide hold (hold.py); "on" is a run's browser: every click
and Enter is read for what it would do (page.js `actionInfo`) under the default `[approval]`
table, and the hold is on the context for the whole session (a route every request passes,
which turns the HTTP cache off, and each tab's CDP interception of its top-level documents).
Each sample is one action and its settling, on the same pages, alternated so both see the
same machine:

- `click`: a button that changes the DOM (form.html's counter);
- `type_submit`: type into a GET search box and press Enter (a navigation, not asked about);
- `click_link`: a same-site link that navigates.

`<action>_ms` / `<action>_hold_ms` are medians off / on; `<action>_overhead_ms` their
difference; `web_action_*` the same over all three actions' samples together.
Targets: the hold and gate add <= 20 ms to a web action's median, <= 50 ms to any one kind.
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
        # Two sessions on one browser: without the hold and the gate ("off"), and as a run
        # has them ("on": the gate before each action, the session-wide hold throughout).
        sides: dict[bool, tuple[BrowserSession, Actions, WebApprovals]] = {}
        for on in (False, True):
            session = BrowserSession(pool, settings, downloads_dir=workspace, hold=on)
            await session.start()
            approvals = WebApprovals(session, settings, agent="WebSurfer")
            if on:
                await approvals.begin(ctx)  # off: no context, so no gate
            sides[on] = (session, Actions(session, settings, workspace=workspace), approvals)

        async def look(session: BrowserSession) -> Observation:
            page = await session.ready_page()
            return await observe(session, page, settings, screenshot=False)

        async def act(on: bool, name: str, seen: Observation, **args: Any) -> float:
            _, actions, approvals = sides[on]
            begin = time.perf_counter()
            if on:
                refused = await approvals.before(ToolCall("b", name, args), seen, actions)
                assert refused is None, refused.error
            result = await actions.run(name, args)
            took = (time.perf_counter() - begin) * 1000
            if result.error:
                raise RuntimeError(f"{name} failed: {result.error}")
            return took

        samples: dict[str, list[float]] = {}
        for i in range(repeat + 2):  # the first two rounds warm caches and code
            for on in (i % 2 == 0, i % 2 == 1):
                session, actions, _ = sides[on]
                tag = "_hold" if on else ""
                await actions.run("visit_url", {"url": f"{site}/form.html"})
                seen = await look(session)
                click = await act(on, "click", seen, target_id=_id(seen, "Click counter"))
                await actions.run("visit_url", {"url": f"{site}/search.html"})
                seen = await look(session)
                box = _id(seen, "Search terms")
                typed = await act(on, "input_text", seen, target_id=box, text="lake", submit=True)
                await actions.run("visit_url", {"url": f"{site}/links.html"})
                seen = await look(session)
                link = await act(on, "click", seen, target_id=_id(seen, "Alpha article"))
                if i >= 2:
                    for name, value in (
                        ("click", click),
                        ("type_submit", typed),
                        ("click_link", link),
                    ):
                        samples.setdefault(name + tag, []).append(value)
                        samples.setdefault("web_action" + tag, []).append(value)
        for session, _, _ in sides.values():
            await session.close()
        await pool.close()

    record: dict[str, Any] = {"bench": "approval_overhead", "n": repeat}
    worst = 0.0
    for name in ("click", "type_submit", "click_link", "web_action"):
        off_ms, on_ms = median(samples[name]), median(samples[name + "_hold"])
        record[f"{name}_ms"] = round(off_ms, 1)
        record[f"{name}_hold_ms"] = round(on_ms, 1)
        record[f"{name}_overhead_ms"] = round(on_ms - off_ms, 1)
        if name != "web_action":
            worst = max(worst, on_ms - off_ms)
    record["targets_met"] = {
        "hold_median_overhead_le_20ms": record["web_action_overhead_ms"] <= 20,
        "each_action_overhead_le_50ms": worst <= 50,
    }
    record["peak_rss_mb"] = peak_rss_mb()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    emit(asyncio.run(run(args.repeat)))


if __name__ == "__main__":
    main()
