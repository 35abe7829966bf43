"""Hostile pages, through the real WebSurfer: each step ends within the action deadline plus
5 s with a clear observation, the run goes on, no renderer is left behind and our own memory
stays bounded (issue 8)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from magentic.agents.base import AgentReply
from magentic.agents.web_surfer.browser import BrowserPool
from magentic.testing import Reply
from tests.web.procs import cpu_seconds, peak_rss_mb, renderers
from tests.web.scripted_surfer import (
    DEADLINE_S,
    NAVIGATION_S,
    MakeSurfer,
    Surfer,
    surfers,
    visit,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

RSS_GROWTH_MB = 500


@pytest_asyncio.fixture(loop_scope="module")  # close on the loop the test ran on
async def surfer(pool: BrowserPool, site_host: str, tmp_path: Path) -> AsyncIterator[MakeSurfer]:
    async with surfers(pool, site_host, tmp_path) as make:
        yield make


async def busy_renderers() -> set[int]:
    """Renderers that burn CPU while no page does anything: a hostile page left running
    (`while (true)` takes a whole core; an idle renderer takes almost nothing)."""
    before = {pid: cpu_seconds(pid) for pid in renderers()}
    await asyncio.sleep(1.0)  # a window to measure CPU use over, not a wait for an event
    return {pid for pid, cpu in before.items() if cpu_seconds(pid) - cpu > 0.3}


async def hostile_step(
    make: MakeSurfer, site: str, path: str, **settings: Any
) -> tuple[AgentReply, float, Surfer]:
    """Visit a normal page, then the hostile one; then check the run goes on."""
    s = await make(
        visit(f"{site}/articles/alpha.html"),
        visit(f"{site}{path}"),
        visit(f"{site}/articles/beta.html"),
        **settings,
    )
    reply, _ = await s.step()
    assert "Alpha Peak" in reply.text
    before_rss, before = peak_rss_mb(), len(renderers())
    reply, took = await s.step()
    assert took <= DEADLINE_S + 5, f"the step took {took:.1f} s"
    assert peak_rss_mb() - before_rss < RSS_GROWTH_MB
    assert await busy_renderers() == set(), "a renderer still runs the hostile page"
    assert len(renderers()) <= before + 1  # the fresh tab may have one of its own
    after, _ = await s.step()  # the run goes on
    assert "Beta Lake" in after.text
    return reply, took, s


async def test_endless_script_loop(surfer: MakeSurfer, site: str) -> None:
    reply, _, _ = await hostile_step(surfer, site, "/hostile-loop.html")
    assert (
        f"The page {site}/hostile-loop.html was stopped because it did not respond within "
        f"{DEADLINE_S:g} s; its tab was closed and replaced by a blank one." in reply.text
    )
    assert "about:blank" in reply.text


async def test_endless_alerts(surfer: MakeSurfer, site: str) -> None:
    reply, took, _ = await hostile_step(surfer, site, "/hostile-alerts.html")
    assert "was stopped because it kept opening dialogs" in reply.text
    assert "Are you sure you want to leave?" in reply.text  # the first ones are reported
    assert "only the first 20 are reported" in reply.text
    assert took < DEADLINE_S  # it ran away: no need to wait out the deadline


async def test_popup_flood(surfer: MakeSurfer, site: str) -> None:
    reply, took, _ = await hostile_step(surfer, site, "/hostile-popups.html")
    assert "was stopped because it kept trying to open popups (101 in one action)" in reply.text
    assert took < DEADLINE_S  # it ran away: no need to wait out the deadline


async def test_popups_of_one_click_are_capped(surfer: MakeSurfer, site: str) -> None:
    s = await surfer(
        visit(f"{site}/hostile-popups-click.html"),
        Reply.tool_call("click", {"target_id": 1}),
        max_popups_per_action=0,
    )
    reply, _ = await s.step()
    assert "More offers" in reply.text
    reply, took = await s.step()
    session = s.surfer.session
    assert session is not None
    assert len(session.tabs) == 1  # the popup was closed; the page stays in view
    assert "past the allowed 0 per action were closed at once." in reply.text
    assert "More offers" in reply.text
    assert took <= DEADLINE_S + 5


async def test_fifty_megabyte_page(surfer: MakeSurfer, site: str) -> None:
    """Either the page loads in time and its observation is cut at the walk budget, or its
    loading outlasts the deadline and the tab is replaced; which one depends on the machine's
    speed, and each is checked for what it must say."""
    reply, _, _ = await hostile_step(surfer, site, "/hostile/bigdom?mb=50")
    if "was stopped because" in reply.text:
        assert f"did not respond within {DEADLINE_S:g} s; its tab was closed" in reply.text
    else:
        assert "Huge page" in reply.text
        assert "the page is too large to read in full" in reply.text


async def test_server_that_never_answers(surfer: MakeSurfer, site: str) -> None:
    reply, took, s = await hostile_step(surfer, site, "/hostile/never")
    assert took <= NAVIGATION_S + 5
    session = s.surfer.session
    assert session is not None
    # The proxy stopped waiting for the server once the browser gave up on it.
    assert session.proxy.open_connections() == 0
    assert f"Timeout {NAVIGATION_S * 1000:.0f}ms exceeded" in reply.text
    assert "Alpha Peak" in reply.text  # the tab kept the page it showed


async def test_a_page_that_asks_before_leaving_is_left(surfer: MakeSurfer, site: str) -> None:
    """A beforeunload prompt is accepted (else the tab could never leave) and reported."""
    s = await surfer(
        visit(f"{site}/hostile-leave.html"),
        Reply.tool_call("click", {"target_id": 2}),  # a click gives the page its activation
        visit(f"{site}/articles/beta.html"),
    )
    reply, _ = await s.step()
    assert "Unsaved changes" in reply.text
    reply, _ = await s.step()
    assert "Edited" in reply.text
    reply, took = await s.step()
    assert "A beforeunload dialog said" in reply.text and "it was accepted." in reply.text
    assert "Beta Lake" in reply.text
    assert took <= DEADLINE_S + 5


async def test_a_huge_page_is_read_within_the_walk_budget(surfer: MakeSurfer, site: str) -> None:
    """The page-side walk stops at its time budget and says so; the step is not cut off by
    the deadline and the tab stays on the page (3 MB of rows: about 150,000 nodes)."""
    s = await surfer(visit(f"{site}/hostile/bigdom?mb=3"), observe_work_ms=20)
    reply, took = await s.step()
    assert "the page is too large to read in full: this shows what 20 ms of reading" in reply.text
    assert "Huge page" in reply.text and "was stopped because" not in reply.text
    session = s.surfer.session
    assert session is not None and "/hostile/bigdom" in session.active.url
    assert took <= DEADLINE_S + 5
