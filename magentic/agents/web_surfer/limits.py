"""What one action lets a page do before the page counts as runaway.

A page can flood the agent without ever failing: `while (true) alert()` answers itself
through our dialog handler forever, and `window.open` in a loop makes tabs faster than we can
list them. `ActionLimits` counts dialogs and popups per action (the guard resets it at each
action), says which ones are still worth reporting, and trips an event when the page goes
past its allowance, so the guard replaces the tab at once instead of waiting out the deadline.
It has no Playwright in it: the session's event handlers feed it.
"""

from __future__ import annotations

import asyncio

# Popups a page may try to open without a click (the browser blocks each) in one action.
BLOCKED_POPUPS = 100


class ActionLimits:
    """Dialog and popup counts of the current action, against their caps."""

    def __init__(self, max_dialogs: int, max_popups: int) -> None:
        self.max_dialogs = max_dialogs
        self.max_popups = max_popups
        self.dialogs = 0
        self.popups = 0
        self.blocked = 0
        self.reason: str | None = None
        self._tripped: asyncio.Event | None = None

    @property
    def tripped(self) -> asyncio.Event:
        """Set when the page ran away (made lazily: it needs the running loop)."""
        if self._tripped is None:
            self._tripped = asyncio.Event()
        return self._tripped

    def reset(self) -> None:
        self.dialogs = self.popups = self.blocked = 0
        self.reason = None
        self.tripped.clear()

    def dialog(self) -> bool:
        """Count a dialog; True while it is still worth its own note."""
        self.dialogs += 1
        if self.dialogs > self.max_dialogs and self.reason is None:
            self.trip(f"it kept opening dialogs ({self.dialogs} in one action)")
        return self.dialogs <= self.max_dialogs

    def popup(self) -> bool:
        """Count a popup; True while it may stay open."""
        self.popups += 1
        return self.popups <= self.max_popups

    def blocked_popup(self) -> None:
        """Count a popup the browser blocked (no click); a page that keeps trying runs away."""
        self.blocked += 1
        if self.blocked > BLOCKED_POPUPS and self.reason is None:
            self.trip(f"it kept trying to open popups ({self.blocked} in one action)")

    def trip(self, reason: str) -> None:
        self.reason = reason
        self.tripped.set()

    def notes(self) -> list[str]:
        """One summary line per cap the action went past."""
        notes = []
        if self.dialogs > self.max_dialogs:
            notes.append(
                f"The page opened {self.dialogs} dialogs; only the first {self.max_dialogs} "
                "are reported."
            )
        if self.popups > self.max_popups:
            closed = self.popups - self.max_popups
            notes.append(
                f"The page opened {self.popups} popup(s); {closed} past the allowed "
                f"{self.max_popups} per action were closed at once."
            )
        return notes
