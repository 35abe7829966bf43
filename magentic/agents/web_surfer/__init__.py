"""The WebSurfer: an agent that uses a real Chromium through Playwright.

Where things are:
    agent.py       the agent: observe, ask the model for one tool call, act, report
    browser.py     one Chromium per process (BrowserPool), one context per task (BrowserSession)
    proxy.py       the proxy every browser request goes through, enforcing url_policy.py
    settle.py      waiting after an action for navigations, late requests and a quiet DOM
    page.js        the page-side module in every frame (window.__magentic: its contract)
    page_module.py calling it from Python, and the element ids unique across frames
    frames.py      walking frames (nested, cross-origin) for the observation
    observe.py     the observation and its text
    marks.py       the set-of-marks screenshot
    actions.py     the browser actions, each declared as a tool (argument models: tools.py)
    address.py     what a model means by the address it gives visit_url
    reading.py     whole-page reading: markdown, and questions/summaries through the model
    locate.py      finding Chromium (`python -m magentic.agents.web_surfer.locate`)
    guard.py       the per-action deadline: a runaway page's tab is stopped and replaced
    limits.py      dialogs and popups one action may cause
    downloads.py   downloads: size cap, saved in the workspace, read, announced
    sandbox_user.py  Chromium under root runs as an unprivileged user, keeping its sandbox

Names are imported lazily, so `python -m ...locate` does not pay for Playwright and pillow.
"""

from __future__ import annotations

from magentic.lazy import lazy_exports

_EXPORTS = {
    "WebSurfer": "magentic.agents.web_surfer.agent",
    "BrowserPool": "magentic.agents.web_surfer.browser",
    "BrowserSession": "magentic.agents.web_surfer.browser",
    "WebSurferSettings": "magentic.agents.web_surfer.settings",
    "UrlPolicySettings": "magentic.agents.web_surfer.settings",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
