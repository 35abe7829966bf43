"""A run's trace as one self-contained HTML page a person can read.

The page tells the run as a story: the task, the plan (and every replan with its reason),
then each round with the orchestrator's judgement, the instruction, every action the agent
took (screenshots shown where the trace has them), each approval asked for and who decided
it, and its reply, and the outcome with what
it cost. Screenshots are linked from the trace's attachments folder, so the page is written
beside the trace and opens from there.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path

from magentic.events import (
    AgentActed,
    AgentReplied,
    ControlDecided,
    ControlRequested,
    Delegated,
    Event,
    FinalAnswer,
    LedgerUpdated,
    ModelCalled,
    ProgressAssessed,
    Replanned,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
    Stalled,
)
from magentic.safe_fs import open_private
from magentic.secrets import redact
from magentic.text import escape_surrogates

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.6rem;border-radius:4px;font-size:13px}
.round{border-left:3px solid #89b;padding-left:.8rem;margin:1rem 0}
.who{font-weight:600}.muted{color:#777;font-size:13px}.bad{color:#a22}
.act{margin:.3rem 0 .3rem 1rem;font-size:14px}img{max-width:100%;border:1px solid #ccc}
table{border-collapse:collapse}td{padding:.15rem .8rem .15rem 0}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _pre(text: str, limit: int = 4000) -> str:
    if len(text) > limit:
        text = text[:limit] + f"\n[... {len(text) - limit} more characters in the trace]"
    return f"<pre>{_e(text)}</pre>"


def render_html(events: Sequence[Event]) -> str:
    parts: list[str] = []
    model_calls = [e for e in events if isinstance(e, ModelCalled)]
    in_round = False
    for event in events:
        # A round's box runs from its judgement to the next judgement or section.
        starts_round = isinstance(event, ProgressAssessed) and bool(event.ledger)
        if in_round and (
            starts_round or isinstance(event, (LedgerUpdated, FinalAnswer, RunFinished, RunResumed))
        ):
            parts.append("</div>")
            in_round = False
        if starts_round:
            in_round = True
        if isinstance(event, RunStarted):
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.t))
            parts.append(f"<h1>{_e(event.task)}</h1>")
            parts.append(
                f"<p class=muted>run {_e(event.run_id)} · started {started} · team: "
                f"{_e(', '.join(event.agents))}</p>"
            )
            if event.files:
                parts.append(f"<p>Files: {_e(', '.join(Path(f).name for f in event.files))}</p>")
        elif isinstance(event, LedgerUpdated):
            title = "Plan" if event.replan == 0 else f"New plan #{event.replan}"
            parts.append(f"<h2>{title}</h2>{_pre(event.facts)}{_pre(event.plan)}")
        elif isinstance(event, Replanned):
            parts.append(f"<p class=bad>Replanning: {_e(event.reason)}</p>")
        elif isinstance(event, ProgressAssessed) and event.ledger:
            reasons = {
                k: v.get("reason", "") for k, v in event.ledger.items() if isinstance(v, dict)
            }
            parts.append(
                f"<div class=round><p class=muted>Round {event.round} · stalls {event.stall_count}"
                f" · progress: {_e(reasons.get('is_progress_being_made', ''))}</p>"
            )
        elif isinstance(event, Stalled):
            parts.append(f"<p class=bad>Stalled ({event.stall_count}): {_e(event.reason)}</p>")
        elif isinstance(event, Delegated):
            parts.append(
                f"<p><span class=who>Orchestrator → {_e(event.agent)}:</span> "
                f"{_e(event.instruction)}</p>"
            )
        elif isinstance(event, AgentActed):
            args = ", ".join(f"{k}={v!r}" for k, v in event.args.items())
            line = f"{_e(event.agent)}.{_e(event.action)}({_e(args[:300])})"
            if event.error:
                line += f" <span class=bad>failed: {_e(event.error)}</span>"
            line += f" <span class=muted>{event.duration_ms:.0f} ms</span>"
            images = "".join(
                f'<br><img src="{_e(path)}" alt="screenshot" loading=lazy>'
                for path in event.attachment_paths
                if path.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))
            )
            parts.append(f"<div class=act>{line}{images}</div>")
        elif isinstance(event, ControlRequested) and event.request == "approval":
            images = "".join(
                f'<br><img src="{_e(path)}" alt="the page asked about" loading=lazy>'
                for path in event.attachment_paths
                if path.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))
            )
            parts.append(
                f"<div class=act><span class=who>{_e(event.agent)} asks ({_e(event.action)}):"
                f"</span>{_pre(event.detail, 2000)}{images}</div>"
            )
        elif isinstance(event, ControlDecided) and event.request == "approval":
            verdict = "allowed" if event.decision == "allow" else "refused"
            style = "muted" if verdict == "allowed" else "bad"
            why = f": {_e(event.reason)}" if event.reason else ""
            parts.append(f"<p class={style}>{verdict} by {_e(event.by)}{why}</p>")
        elif isinstance(event, AgentReplied):
            parts.append(f"<p class=who>{_e(event.agent)} replied:</p>{_pre(event.text)}")
        elif isinstance(event, FinalAnswer):
            parts.append(f"<h2>Answer</h2>{_pre(event.answer)}")
        elif isinstance(event, RunFailed):
            parts.append(f"<p class=bad>Run failed: {_e(event.reason)}</p>")
        elif isinstance(event, RunResumed):
            was = "killed" if event.previous_status == "running" else event.previous_status
            parts.append(
                f"<h2>Resumed after round {event.round}</h2>"
                f"<p class=muted>the run was {_e(was)}; it went on from its checkpoint</p>"
            )
        elif isinstance(event, RunFinished):
            tokens = event.prompt_tokens + event.completion_tokens
            parts.append(
                "<h2>Outcome</h2><table>"
                f"<tr><td>status</td><td>{_e(event.status)}</td></tr>"
                f"<tr><td>why</td><td>{_e(event.stop_reason)}</td></tr>"
                f"<tr><td>rounds</td><td>{event.rounds}</td></tr>"
                f"<tr><td>model calls</td><td>{len(model_calls)}</td></tr>"
                f"<tr><td>tokens</td><td>{tokens} ({event.prompt_tokens} in, "
                f"{event.completion_tokens} out)</td></tr>"
                f"<tr><td>cost</td><td>${event.cost:.4f}</td></tr>"
                f"<tr><td>time</td><td>{event.seconds:.1f} s</td></tr></table>"
            )
    if in_round:
        parts.append("</div>")
    body = "\n".join(parts)
    return f"<!doctype html><meta charset=utf-8><title>magentic run</title><style>{_STYLE}</style>\n{body}\n"


def write_report(run_dir: Path, events: Sequence[Event]) -> Path:
    """Write `report.html` beside the trace (so attachment links resolve) and return it."""
    path = Path(run_dir) / "report.html"
    with open_private(path) as file:  # 0600: the report shows what the trace holds
        file.write(escape_surrogates(redact(render_html(events))))
    return path
