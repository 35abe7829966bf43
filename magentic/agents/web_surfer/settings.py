"""WebSurferSettings: everything a person may tune about the browser agent, in one typed place.

They arrive from the `[web]` table of the config file and from CLI flags (`--headed`,
`--slow-mo`), so this is pydantic: it validates what comes in from outside.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class UrlPolicySettings(BaseModel):
    """Which addresses the browser may reach.

    Host patterns are `host`, `host:port` or `*.domain` (a leading `*.` matches the domain
    and every subdomain). `allow` wins over the built-in block of private and loopback
    addresses, so a test can allow `127.0.0.1:8123` and still see `127.0.0.1:9000` or
    `localhost:8123` blocked.
    """

    model_config = ConfigDict(extra="forbid")
    # Host patterns reachable even if private or loopback (`host`, `host:port`, `*.domain`).
    allow: list[str] = Field(default_factory=list)
    # Host patterns never reached, whatever else says.
    block: list[str] = Field(default_factory=list)
    # Only the `allow` hosts may be reached (a closed allow-list instead of exceptions).
    allow_listed_only: bool = False
    # Reach loopback, private, link-local addresses and the machine's own (off: SSRF guard).
    allow_private: bool = False
    # Open `file://` addresses (off: a page cannot be used to read the machine's files).
    allow_file: bool = False


class WebSurferSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The browser -----------------------------------------------------------------------
    executable_path: str | None = None  # else MAGENTIC_CHROMIUM, Playwright's, the system's
    # No window (`--headed` shows one; it needs a display, e.g. `xvfb-run -a`).
    headless: bool = True
    # Milliseconds added before each browser operation, to watch it work (`--slow-mo`).
    slow_mo_ms: float = 0.0
    # 1280x640 scales to a 1024x512 screenshot: two 512-px tiles, 425 image tokens under
    # OpenAI's formula, where 1280x720 (1024x576) costs four tiles, 765 tokens.
    viewport_width: int = Field(default=1280, ge=320, le=3840)
    viewport_height: int = Field(default=640, ge=240, le=2160)  # the window's height in px
    locale: str = "en-US"  # the browser's language, which sites read to choose theirs
    user_agent: str | None = None  # None: Chromium's own

    # What the model sees ---------------------------------------------------------------
    screenshot_format: Literal["jpeg", "webp", "png"] = "jpeg"
    screenshot_quality: int = Field(default=70, ge=1, le=100)  # JPEG or WebP quality
    # Screenshots wider than this are scaled down before a model sees them.
    screenshot_max_width: int = Field(default=1024, ge=200, le=3840)
    # No screenshot and no image in the reply (also forced when the model has no vision).
    text_only: bool = False
    # Characters of the text observation (header, elements, viewport text) at most.
    observation_chars: int = Field(default=2500, ge=500)
    # How long the page-side walk of one observation may take; a huge page gives what was
    # read by then, with a note, instead of holding the step.
    observe_work_ms: int = Field(default=1500, ge=10, le=60000)
    # Interactive elements listed (with ids) in one observation.
    max_elements: int = Field(default=60, ge=5)
    # Element marks drawn into the page itself; None means "when headed".
    marks_on_page: bool | None = None

    # Actions ---------------------------------------------------------------------------
    search_url: str = "https://duckduckgo.com/html/?q={query}"
    url_policy: UrlPolicySettings = Field(default_factory=UrlPolicySettings)
    # What is done with a page's alert, confirm or prompt dialog (each is reported).
    dialogs: Literal["accept", "dismiss"] = "accept"
    # Tool calls one step may make before it reports back (1: one model call, one action).
    actions_per_step: int = Field(default=1, ge=1, le=20)
    # Ask before every action: the same as `[approval] web_action = "ask"` (`--step`), which
    # it sets; kept so config files that say it still mean it.
    step_mode: bool = False
    # Characters of a page's Markdown that `read_page` returns at once.
    read_page_chars: int = Field(default=12000, ge=1000)
    # Characters of page text per model call when answering about a whole page.
    chunk_chars: int = Field(default=24000, ge=2000)
    max_chunks: int = Field(default=8, ge=1)  # of those model calls, at most, per question
    max_sleep_s: float = 10.0  # the longest wait the `sleep` action may ask for

    # Time limits -----------------------------------------------------------------------
    navigation_timeout_s: float = 20.0
    # Seconds one click, typing or other element operation may take before it fails.
    action_timeout_s: float = 4.0
    # The DOM counts as settled after this long without mutations...
    settle_quiet_ms: int = Field(default=60, ge=0)
    # ...and waiting for it (and for late requests) never takes longer than this.
    settle_max_ms: int = Field(default=2500, ge=0)

    # Hostile pages (guard.py, downloads.py, sandbox_user.py) ----------------------------
    # One action and the observation after it must finish within this; past it the tab is
    # stopped (its renderer killed if it hangs) and replaced by a blank one, and the model
    # is told. Keep it above navigation_timeout_s, which a slow page may use in full.
    action_deadline_s: float = Field(default=40.0, gt=0)
    # Dialogs one action may raise; past this the page counts as runaway and is replaced.
    max_dialogs_per_action: int = Field(default=20, ge=1)
    # Popups one action may open (0: none); any more are closed as they arrive, with a note.
    max_popups_per_action: int = Field(default=3, ge=0)
    # A download past this size is cancelled and its partial file removed.
    max_download_mb: float = Field(default=200.0, gt=0)
    # Characters of a downloaded document's text shown in the observation (its first page).
    download_page_chars: int = Field(default=3000, ge=500)
    # Run Chromium as this unprivileged user when we run as root, so it keeps its sandbox
    # (scripts/install creates it); empty: never, and as root Chromium runs unsandboxed.
    sandbox_user: str = "magentic-browser"

    @field_validator("search_url")
    @classmethod
    def _has_query(cls, value: str) -> str:
        if "{query}" not in value:
            raise ValueError("search_url must contain {query}")
        return value

    def draw_marks_on_page(self) -> bool:
        return (not self.headless) if self.marks_on_page is None else self.marks_on_page
