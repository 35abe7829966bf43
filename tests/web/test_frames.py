"""Frames are part of the page: same-origin and cross-origin (out of process), two deep.

Their elements share the one element list (ids unique across frames, boxes in page
coordinates), their text shows under a line naming the frame and its address, every action
works inside them, and frames that refuse, stall or swarm become notes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from magentic.agents.web_surfer.actions import Actions
from magentic.agents.web_surfer.observe import Observation
from tests.web.helpers import act, find

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


def section(seen: Observation, heading: str) -> str:
    """The text in view under the frame heading that starts with `heading`."""
    text = seen.text.split("Text in view:\n", 1)[1]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rest = lines[start + 1 :]
    end = next((i for i, line in enumerate(rest) if line.startswith("Frame ")), len(rest))
    return "\n".join(rest[:end])


async def test_frames_two_deep_join_the_element_list_and_the_text(
    browsing: Actions, site: str, other_site: str
) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/frames.html")
    ids = [e.id for e in seen.state.elements]
    assert len(ids) == len(set(ids))  # unique across the three documents
    forecast = find(seen, "Show forecast")  # in the same-origin frame
    tide = find(seen, "Show tide")  # in the cross-origin frame inside it
    assert forecast.in_view and tide.in_view
    assert f'[{tide.id}] button "Show tide"' in seen.text
    assert f'Frame "Weather" ({site}/frames/weather.html):' in seen.text
    assert "Wind from the west at 12 knots." in section(seen, 'Frame "Weather"')
    assert f"({other_site}/frames/tides.html):" in seen.text
    assert "High tide at 06:42" in section(seen, 'Frame "Tide chart"')
    assert "Berth 4 is closed" in seen.text.split("Frame ")[0]  # the top page first
    # A frame the page wrote itself, with no address: the module is injected into it.
    assert "Harbor master on duty: J. Berg" in section(seen, 'Frame "Notice board"')
    _, seen = await act(browsing, "click", target_id=find(seen, "Call the harbor master").id)
    assert find(seen, "Calling J. Berg").role == "button"
    # Boxes in page coordinates: the outer frame sits 40 px in, the inner one 20 px more.
    outer_left = 40 + 8  # its margin and the body's
    assert forecast.box.x > outer_left
    assert tide.box.x > outer_left + 20 and tide.box.y > forecast.box.y


async def test_every_action_works_inside_a_cross_origin_frame(
    browsing: Actions, site: str, tmp_path: Path
) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/frames.html")
    await act(browsing, "input_text", target_id=find(seen, "Harbor", "textbox").id, text="Kiel")
    await act(browsing, "select_option", target_id=find(seen, "Day").id, option="Tuesday")
    result, seen = await act(browsing, "click", target_id=find(seen, "Show tide").id)
    assert result.error is None
    assert "Tide for Kiel on Tuesday: 1.8 m" in section(seen, 'Frame "Tide chart"')

    _, seen = await act(browsing, "click", target_id=find(seen, "Show forecast").id)
    assert find(seen, "Forecast: rain at noon").role == "button"
    # A frame that answers a click 600 ms later: settling waits for the frame too.
    _, seen = await act(browsing, "click", target_id=find(seen, "Show tomorrow").id)
    assert "Tomorrow: sunny, 18 degrees" in section(seen, 'Frame "Weather"')

    assert "Metres" not in [e.name for e in seen.state.elements if e.in_view]
    _, seen = await act(browsing, "hover", target_id=find(seen, "Units").id)
    assert find(seen, "Metres", "link").in_view

    log = find(seen, "Tide log", "scrollable area")
    assert "Last log: buoy 77" not in seen.text
    for _ in range(5):
        result, seen = await act(browsing, "scroll", direction="down", target_id=log.id)
        if "already at the bottom" in result.summary:
            break
    assert "Last log: buoy 77 checked" in seen.text
    assert "Log line 1" not in seen.text  # scrolled out of the box's view

    (tmp_path / "log.txt").write_text("buoy 77\n")
    result, seen = await act(
        browsing, "upload_file", target_id=find(seen, "Logbook").id, path="log.txt"
    )
    assert result.error is None
    assert "Chosen: log.txt" in seen.text


async def test_read_page_includes_every_frame(browsing: Actions, site: str) -> None:
    from magentic.agents.web_surfer.reading import page_markdown

    await act(browsing, "visit_url", url=f"{site}/frames.html")
    text = await page_markdown(await browsing.session.ready_page())
    assert "Berth 4 is closed" in text
    assert "## Frame 'Weather'" in text and "Wind from the west" in text
    assert "/frames/tides.html)" in text and "High tide at 06:42" in text
    assert "## Frame 'Notice board' (about:blank)" in text and "J. Berg" in text


async def test_a_consent_overlay_hides_the_page_and_its_frame_until_accepted(
    browsing: Actions, site: str
) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/consent.html")
    assert "We value your privacy" in seen.text
    assert "ferry timetable" not in seen.text  # under the overlay
    assert "High tide" not in seen.text  # the frame is under it too
    link = find(seen, "Read about Alpha Peak")
    assert not link.in_view and link.covered
    assert "covered by an overlay" in seen.text
    _, seen = await act(browsing, "click", target_id=find(seen, "Accept all").id)
    assert "We value your privacy" not in seen.text
    assert "the first boat leaves at 05:50" in seen.text
    assert "High tide at 06:42" in section(seen, 'Frame "Tide chart"')
    assert find(seen, "Read about Alpha Peak").in_view


async def test_frames_that_refuse_stall_or_swarm_become_notes(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/bad-frames.html?many=60")
    assert seen.state.title == "Awkward frames"
    assert "a frame that refuses framing" in seen.text
    assert "more frames were not read (at most 50 are)" in seen.text
    assert "Tiny frame 0" in seen.text
    refused = [n for n in seen.state.notes if '"Refuses"' in n]
    assert refused and ("error page" in refused[0] or "could not be read" in refused[0])
    assert f'"Refuses": it shows an error page instead of {site}/no-framing' in seen.text
    assert any("did not answer in time" in n for n in seen.state.notes)  # the stalled one
    assert len(seen.text) <= browsing.settings.observation_chars
