"""The conversation the orchestrator resends each round, kept compact and cache-friendly.

Each message is rendered once, capped at a fixed size, and never rewritten afterwards, so
the prompt's prefix stays byte-identical from round to round (providers cache it). When the
whole grows past its budget, the oldest messages are dropped in one block, which changes the
prefix rarely, not every round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from magentic.agents.base import TeamMessage
from magentic.llm.messages import ImagePart, Message, assistant, user
from magentic.orchestrator import prompts
from magentic.text import clip


@dataclass
class Transcript:
    message_chars: int = 2500  # cap on one message as the orchestrator sees it
    budget_chars: int = 24000  # cap on the whole transcript; past it, drop the oldest block
    images: str = "none"  # "none" or "last": whether the newest screenshot is resent
    entries: list[TeamMessage] = field(default_factory=list)
    _rendered: list[Message] = field(default_factory=list)
    _omitted: int = 0

    def add(self, entry: TeamMessage) -> None:
        self.entries.append(entry)
        text = clip(entry.text, self.message_chars)
        if entry.source == "orchestrator":
            self._rendered.append(assistant(text))
        else:
            # untrusted replies (pages, files, tools) are fenced off as data
            self._rendered.append(user(entry.for_prompt(text), name=entry.source))
        self._trim()

    def clear(self) -> None:
        self.entries.clear()
        self._rendered.clear()
        self._omitted = 0

    def _size(self) -> int:
        return sum(len(m.text) for m in self._rendered)

    def _trim(self) -> None:
        if self._size() <= self.budget_chars:
            return
        # Drop the oldest third at once so the prefix changes seldom.
        while self._size() > self.budget_chars * 2 // 3 and len(self._rendered) > 2:
            self._rendered.pop(0)
            self._omitted += 1

    def messages(self) -> list[Message]:
        out: list[Message] = []
        if self._omitted:
            out.append(user(prompts.TRANSCRIPT_OMITTED.format(count=self._omitted)))
        out.extend(self._rendered)
        if self.images == "last":
            image = self._last_image()
            if image is not None and out:
                last = out[-1]
                out[-1] = Message(last.role, [last.text, image], name=last.name)
        return out

    def _last_image(self) -> ImagePart | None:
        for entry in reversed(self.entries):
            if entry.images:
                return entry.images[-1]
        return None

    def for_agents(self) -> Sequence[TeamMessage]:
        return list(self.entries)
