"""What a WebSurfer action would do, read from the page before it runs (for the gate).

A click on a form's submit button, or Enter in one of its fields, submits it (`submit_form`
when it posts; `login` when the form has a password or payment-card field); typing into such
a field is `login`; a link or an address on a site not visited in this run is `new_domain`;
`upload_file` is `upload`, `download` is `download`. The page is asked through page.js
(`actionInfo`); a page that does not answer leaves the session-wide hold (hold.py) to catch
what the action then does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from playwright.async_api import Error as PlaywrightError

from magentic.agents.web_surfer.actions import ActionProblem, Actions
from magentic.agents.web_surfer.address import resolve_address
from magentic.agents.web_surfer.browser import BrowserSession
from magentic.agents.web_surfer.domains import site_of
from magentic.agents.web_surfer.downloads import human_size
from magentic.agents.web_surfer.observe import Observation
from magentic.agents.web_surfer.page_module import call, ids_of
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.llm.messages import ToolCall


@dataclass
class Guarded:
    """One action as the gate sees it: its kinds and the words a person reads."""

    kinds: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    target: str = ""
    sites: set[str] = field(default_factory=set)  # sites it opens that are new

    def add(self, kind: str, reason: str) -> None:
        if kind not in self.kinds:
            self.kinds.append(kind)
        self.reasons.append(reason)


class ActionReader:
    """Reads one session's actions for their kinds; `visited` is the run's set of sites."""

    def __init__(
        self, session: BrowserSession, settings: WebSurferSettings, visited: set[str]
    ) -> None:
        self.session = session
        self.settings = settings
        self.visited = visited

    async def classify(self, call_: ToolCall, actions: Actions) -> Guarded:
        """The kinds of one action, read from the page (bounded: a page that does not answer
        leaves the backstop to catch what the action does)."""
        guarded = Guarded()
        try:
            await asyncio.wait_for(
                self._classify(call_, guarded, actions), self.settings.action_timeout_s
            )
        except (PlaywrightError, ActionProblem, asyncio.TimeoutError, TimeoutError):
            pass  # a page that does not answer: the backstop still holds what it sends
        except (KeyError, TypeError, ValueError):
            pass  # arguments the action itself will refuse (no target_id, not a number)
        return guarded

    async def _classify(self, call_: ToolCall, guarded: Guarded, actions: Actions) -> None:
        name, args = call_.name, call_.arguments
        page = self.session.active
        if page is None:
            return
        if name in ("visit_url", "web_search") or (
            name == "tab" and args.get("action") == "open" and args.get("url")
        ):
            url = self._address(name, args, page.url)
            if url:
                guarded.target = url
                self._new_site(url, guarded, "It opens")
            return
        if name == "press_key" and "enter" in str(args.get("keys", "")).lower():
            focused = await call(page.main_frame, "focusInfo")
            if focused and (focused.get("enterSubmits") or focused.get("submits")):
                self._form(focused, guarded)
            return
        if name not in ("click", "input_text", "select_option", "upload_file", "download"):
            return
        place = ids_of(page).place(int(args["target_id"]))
        if place is None:
            return  # no such element: the action itself says so
        frame, local_id = place
        info: dict[str, Any] | None = await call(frame, "actionInfoOf", local_id, name != "click")
        if info is None:
            return
        if name == "upload_file":
            file = actions.task_file(str(args.get("path", "")))
            size = human_size(file.stat().st_size)
            guarded.target = str(file)
            guarded.add("upload", f"It sends the workspace file {file.name} ({size}) to the page.")
        elif name == "select_option":
            if info.get("card"):
                guarded.add("login", "It chooses in a payment card field.")
        elif name == "input_text":
            if info.get("password"):
                guarded.add("login", "It types into a password field.")
            if info.get("card"):
                guarded.add("login", "It types into a payment card field.")
            if args.get("submit") and info.get("enterSubmits"):
                self._form(info, guarded)
        else:  # click, download
            href = str(info.get("href") or "")
            if name == "download" or info.get("download"):
                guarded.target = href or guarded.target
                guarded.add("download", f"It downloads the file behind it ({href or 'no link'}).")
            elif href:
                guarded.target = href
                self._new_site(href, guarded, "The link leads to")
            if info.get("submits"):
                self._form(info, guarded)

    def _form(self, info: dict[str, Any], guarded: Guarded) -> None:
        form = info.get("form") or {}
        if not form:
            return
        name = f" {form['name']!r}" if form.get("name") else ""
        action = str(form.get("action") or "")
        if form.get("password"):
            guarded.add("login", f"The form{name} has a password field.")
        if form.get("card"):
            guarded.add("login", f"The form{name} asks for payment card details.")
        if str(form.get("method", "get")).lower() == "post":
            guarded.target = action
            guarded.add("submit_form", f"It submits the form{name} by POST to {action[:300]}.")
        elif action:
            guarded.target = guarded.target or action
            self._new_site(action, guarded, f"The form{name} goes to")

    def _new_site(self, url: str, guarded: Guarded, lead: str) -> None:
        site = site_of(url)
        if site is None or site in self.visited or self.session.policy.check_url(url):
            return  # not a site, seen before, or blocked anyway (the action says so)
        guarded.sites.add(site)
        guarded.add("new_domain", f"{lead} {url[:300]}: {site} is a site not visited in this run.")

    def _address(self, name: str, args: dict[str, Any], current: str) -> str | None:
        if name == "web_search":
            return self.settings.search_url.format(query=quote_plus(str(args.get("query", ""))))
        return resolve_address(str(args.get("url") or ""), current)


def describe(call_: ToolCall, seen: Observation) -> str:
    """The action in words, with the element's role and name (for approval and the log)."""
    args: dict[str, Any] = dict(call_.arguments)
    target = args.get("target_id")
    what = call_.name.replace("_", " ")
    if target is not None:
        element = seen.state.element(int(target)) if str(target).isdigit() else None
        label = element.describe().split(" value=")[0] if element else f"[{target}]"
        what += f" {label}"
    rest = {k: v for k, v in args.items() if k != "target_id"}
    if rest:
        what += " (" + ", ".join(f"{k}={str(v)[:80]!r}" for k, v in rest.items()) + ")"
    return what
