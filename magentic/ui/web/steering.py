"""The web view as a face on a run's control channel (`magentic run --ui`).

The view runs in the run's own process, so it holds the run's `ControlChannel` as it holds
its `Streams`: it attaches as the face "web" while it serves the run, keeps the requests
that are open (from the events it subscribes to), shows them on the run page, and takes the
person's answers as JSON commands posted to `/control/<run>` (`parse_command`), which it
gives to the channel. Nothing else reaches the run.

Who may post is the door's business (`door`: the view's own host, a session opened with the
printed key, the view's own origin, the view's own user); the page holds no token. A command
is recorded as the session's that sent it (`web:<session id>`): the view can vouch for the
browser that opened its link, not for who sits at it. What the panel shows of a request is
redacted as the trace is, so a key in a form's fields does not reach the page.
"""

from __future__ import annotations

from urllib.parse import quote

from magentic.control.channel import ControlChannel
from magentic.control.commands import Command, parse_command
from magentic.events import ControlRequested, Event
from magentic.secrets import redact
from magentic.ui.web.pages import esc

FACE = "web"
MAX_BODY = 256 * 1024


class WebSteering:
    def __init__(self, control: ControlChannel) -> None:
        self.control = control
        self.run_id = ""
        self.requests: dict[str, ControlRequested] = {}
        self.paused = False  # held at a safe point now
        self.finished = False

    def attach(self) -> None:
        self.control.attach(FACE)

    def detach(self) -> None:
        self.control.detach(FACE)

    def push(self, event: Event) -> None:
        """A bus subscriber: keeps what the panel shows."""
        self.run_id = self.run_id or event.run_id
        if isinstance(event, ControlRequested):
            self.requests[event.request_id] = _redacted(event)
        elif event.kind == "control_decided":
            self.requests.pop(getattr(event, "request_id", ""), None)
        elif event.kind == "paused":
            self.paused = True
        elif event.kind == "unpaused":
            self.paused = False
        elif event.kind == "run_finished":
            self.finished, self.paused = True, False
            self.requests.clear()

    def steers(self, run_id: str) -> bool:
        return bool(self.run_id) and run_id == self.run_id and not self.finished

    # Commands in ---------------------------------------------------------------------------
    def take(self, body: bytes, *, session: str) -> Command:
        """Parse and send one command, as the view's session `session`; ControlError says
        what was wrong."""
        command = parse_command(body)
        who = f"{FACE}:{session}"
        self.control.send(command, face=who, by=who)
        return command

    # The panel -----------------------------------------------------------------------------
    def key(self) -> str:
        """Changes whenever the panel would: a page redraws it only then (typing is kept)."""
        pending = "p" if self.control.paused and not self.paused else ""
        return f"{int(self.paused)}{pending}{int(self.finished)}:{','.join(self.requests)}"

    def panel(self, ref: str) -> str:
        if self.finished:
            return '<section id="steer" data-key="ended"></section>'
        state = "paused" if self.paused else "pausing…" if self.control.paused else "running"
        requests = "".join(_request_html(ref, r) for r in self.requests.values())
        return (
            f'<section id="steer" class="note" data-control="/control/{quote(ref)}" '
            f'data-key="{esc(self.key())}">'
            f"<p>steer this run · <b id=steer-state>{esc(state)}</b> "
            '<button data-command="pause">pause</button> '
            '<button data-command="resume">resume</button> '
            '<button data-command="stop">stop</button></p>'
            '<p><textarea id="guide-text" rows="2" cols="70" '
            'placeholder="guidance for the team, taken as your words"></textarea> '
            '<button data-command="guide">guide</button></p>'
            f'{requests}<p id="steer-error" class="dim" hidden></p></section>'
        )


def _redacted(event: ControlRequested) -> ControlRequested:
    """The request as the panel may show it: every text redacted, as in the trace."""
    texts = {name: redact(getattr(event, name)) for name in ("agent", "action", "target", "detail")}
    return event.model_copy(update=texts)


def _request_html(ref: str, event: ControlRequested) -> str:
    rid = esc(event.request_id)
    if event.request == "plan_review":
        body = (
            f"<b>review the plan ({rid})</b>"
            f'<div><textarea class="plan" rows="8" cols="90">{esc(event.detail)}</textarea></div>'
            '<button data-command="approve">approve</button> '
            '<button data-command="edit_plan">use my edit</button>'
            '<div><input class="reason" size="70" placeholder="or a comment to replan with"> '
            '<button data-command="comment">replan with comment</button></div>'
        )
    elif event.request == "approval":
        images = "".join(
            f'<div><img alt="{esc(p)}" src="/file/{quote(ref)}/{quote(p)}"></div>'
            for p in event.attachment_paths
        )
        target = f" on <code>{esc(event.target)}</code>" if event.target else ""
        body = (
            f"<b>{esc(event.agent)} asks to {esc(event.action)}{target} ({rid})</b>"
            f"<pre>{esc(event.detail)}</pre>{images}"
            '<button data-command="approve">allow</button> '
            '<input class="reason" size="50" placeholder="reason (optional)"> '
            '<button data-command="deny">deny</button>'
        )
    else:
        body = (
            f"<b>{esc(event.agent)} asks you ({rid})</b><pre>{esc(event.detail)}</pre>"
            '<textarea class="answer" rows="2" cols="70"></textarea> '
            '<button data-command="answer">answer</button>'
        )
    return (
        f'<div class="request ev" data-request="{rid}" data-kind="{esc(event.request)}">'
        f"{body}</div>"
    )
