"""How fast the WebSurfer acts and observes, without the model. Prints ONE JSON line.

    .venv/bin/python benchmarks/web_step.py [--repeat N]

Real headless Chromium on the tests' local sites (tests/web/sites, served on 127.0.0.1).
Each sample is the time from issuing an action to its observation being ready: the action,
settling (navigation, late requests, a quiet DOM), the page-side collection, the screenshot
and its set-of-marks, scaling and JPEG encoding, exactly what the agent does per step.

- `<action>_ms`: median (and p90) per action: `visit` (open a page), `click` (a button that
  changes the DOM), `click_link` (a link that navigates), `type_submit` (type into the
  search box and press Enter: a form navigation), `scroll` (the page, by most of a screen).
- `observation`: the size of what the model gets on the 60-element page: characters of
  text, bytes and pixels of the image, elements listed.
- `observe_ms`: the observation alone (no action) on that page.
- `frames_click_ms`: a click on a button inside a cross-origin frame two deep, on a page of
  three documents (frames.html: the top, a same-origin frame, a cross-origin one in it);
  `frames_observe_ms`: that page's observation alone.
- `shadow_click_ms`: a click on a button inside an open shadow root (shadow.html: nested
  and slotted open roots, one closed root).
Targets (issues 3 and 10): <= 250 ms median per action on static pages, <= 350 ms on the
frames page, text <= 2,500 chars, image <= 1024 px wide.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from harness import emit, median, peak_rss_mb, percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from magentic.agents.web_surfer.actions import Actions  # noqa: E402
from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession  # noqa: E402
from magentic.agents.web_surfer.observe import Observation, observe  # noqa: E402
from magentic.agents.web_surfer.settings import (  # noqa: E402
    UrlPolicySettings,
    WebSurferSettings,
)
from tests.web.site_server import serve_two_sites  # noqa: E402


def _id(seen: Observation, name: str) -> int:
    return next(e.id for e in seen.state.elements if name.lower() in e.name.lower())


async def run(repeat: int) -> dict[str, Any]:
    with serve_two_sites() as (site, other), tempfile.TemporaryDirectory() as workspace:
        host = site.split("://", 1)[1]
        settings = WebSurferSettings(
            url_policy=UrlPolicySettings(allow=[host, other.split("://", 1)[1]]),
            search_url=f"{site}/search?q={{query}}",
        )
        pool = BrowserPool(settings)
        session = BrowserSession(pool, settings, downloads_dir=Path(workspace))
        started = time.perf_counter()
        await session.start()
        launch_ms = (time.perf_counter() - started) * 1000
        actions = Actions(session, settings, workspace=Path(workspace))

        async def step(name: str, **args: Any) -> Observation:
            result = await actions.run(name, args)
            if result.error:
                raise RuntimeError(f"{name} failed: {result.error}")
            page = await session.ready_page()
            return await observe(session, page, settings, screenshot=True, notes=result.notes)

        async def timed(action: Callable[[], Awaitable[Any]]) -> float:
            begin = time.perf_counter()
            await action()
            return (time.perf_counter() - begin) * 1000

        static = ("visit", "click", "click_link", "type_submit", "scroll", "shadow_click")
        samples: dict[str, list[float]] = {k: [] for k in (*static, "frames_click")}
        pages = ["/articles/alpha.html", "/form.html", "/articles/beta.html", "/many.html"]
        for warm in pages:  # first loads pay for caches and code compilation
            await step("visit_url", url=site + warm)
        for i in range(repeat):
            url = site + pages[i % len(pages)]
            samples["visit"].append(await timed(partial(step, "visit_url", url=url)))

            seen = await step("visit_url", url=f"{site}/form.html")
            counter = _id(seen, "Click counter")
            samples["click"].append(await timed(partial(step, "click", target_id=counter)))

            seen = await step("visit_url", url=f"{site}/links.html")
            link = _id(seen, "Alpha article")
            samples["click_link"].append(await timed(partial(step, "click", target_id=link)))

            seen = await step("visit_url", url=f"{site}/search.html")
            box = _id(seen, "Search terms")
            type_submit = partial(step, "input_text", target_id=box, text="lake", submit=True)
            samples["type_submit"].append(await timed(type_submit))

            await step("visit_url", url=f"{site}/long.html")
            samples["scroll"].append(await timed(partial(step, "scroll", direction="down")))

            seen = await step("visit_url", url=f"{site}/shadow.html")
            price = partial(step, "click", target_id=_id(seen, "Show price"))
            samples["shadow_click"].append(await timed(price))

            seen = await step("visit_url", url=f"{site}/frames.html")
            tide = partial(step, "click", target_id=_id(seen, "Show tide"))
            samples["frames_click"].append(await timed(tide))

        await step("visit_url", url=f"{site}/frames.html")
        frames_page = await session.ready_page()
        frames_observe = []
        for _ in range(repeat):
            begin = time.perf_counter()
            await observe(session, frames_page, settings, screenshot=True)
            frames_observe.append((time.perf_counter() - begin) * 1000)

        seen = await step("visit_url", url=f"{site}/many.html")
        page = await session.ready_page()
        observe_samples = []
        for _ in range(repeat):
            begin = time.perf_counter()
            await observe(session, page, settings, screenshot=True)
            observe_samples.append((time.perf_counter() - begin) * 1000)
        browser = await pool.browser()
        version = browser.version
        await session.close()
        await pool.close()

    shot = seen.screenshot
    assert shot is not None
    record: dict[str, Any] = {"bench": "web_step", "n": repeat}
    for name, values in samples.items():
        record[f"{name}_ms"] = round(median(values), 1)
        record[f"{name}_p90_ms"] = round(percentile(values, 90), 1)
    record["observe_ms"] = round(median(observe_samples), 1)
    record["frames_observe_ms"] = round(median(frames_observe), 1)
    record["observation"] = {
        "page": "many.html",
        "elements_in_view": sum(1 for e in seen.state.elements if e.in_view),
        "text_chars": len(seen.text),
        "image_bytes": len(shot.data),
        "image_px": [shot.width, shot.height],
        "image_format": shot.mime,
    }
    record["targets_met"] = {
        "action_median_le_250ms": all(record[f"{k}_ms"] <= 250 for k in static),
        "frames_median_le_350ms": record["frames_click_ms"] <= 350,
        "text_le_2500": len(seen.text) <= 2500,
        "image_le_1024px": shot.width <= 1024,
    }
    record["browser_start_ms"] = round(launch_ms, 1)
    record["chromium"] = version
    record["peak_rss_mb"] = peak_rss_mb()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    emit(asyncio.run(run(args.repeat)))


if __name__ == "__main__":
    main()
