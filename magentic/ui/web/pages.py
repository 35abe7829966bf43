"""The web view's HTML, built from events and results; every piece of run text is escaped.

Run text comes from models and from the pages and files the agents read, so it is hostile
by assumption: it goes through `esc` (html.escape, quotes included) wherever it lands, and
the pages carry a Content-Security-Policy that allows no inline script (see `app.py`).
One renderer serves both the first load and the live updates: `event_html` makes the rows
a page starts with and the fragments the event stream sends after.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from html import escape
from typing import Any
from urllib.parse import quote

from magentic.events import Event
from magentic.ui.web.store import RunSummary, Unknown

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;
text-align:left;vertical-align:top}pre{white-space:pre-wrap;word-break:break-word;margin:.2em 0;
background:#f6f6f6;padding:.4em}.ev{border-left:3px solid #ccc;padding:.2em .7em;margin:.4em 0}
.delegated{border-color:#36c}.ledger_updated{border-color:#393}.final_answer{border-color:#c60;
background:#fff6ea}.run_failed,.model_call_failed{border-color:#c33}.dim{color:#777}
.model_called{font-size:12px;color:#555;border-color:#eee}img{max-width:100%;border:1px solid #ccc}
.note{background:#fffbe0;padding:.4em}
"""


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def page(title: str, body: str, *, follow: str = "") -> str:
    """A whole page; `follow` is the event-stream URL its script listens to, if any."""
    data = f' data-follow="{esc(follow)}"' if follow else ""
    script = '<script src="/static/follow.js"></script>' if follow else ""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{_STYLE}</style></head><body{data}>"
        f'<p><a href="/">all runs</a></p>{body}{script}</body></html>'
    )


def _money(cost: float) -> str:
    return f"${cost:.4f}"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else ""


def index_page(runs: list[RunSummary], benches: list[str]) -> str:
    rows = "".join(
        f'<tr><td><a href="/run/{quote(r.ref)}">{esc(_clip(r.task, 120) or r.ref)}</a></td>'
        f"<td>{esc(r.status)}</td><td>{r.rounds}</td><td>{r.seconds:.0f} s</td>"
        f"<td>{_money(r.cost)}</td><td class=dim>{esc(_when(r.started))}</td></tr>"
        for r in sorted(runs, key=lambda r: r.started, reverse=True)
    )
    bench_links = "".join(
        f'<li><a href="/bench/{quote(b)}">{esc(b)}</a></li>' for b in sorted(benches)
    )
    body = "<h1>Runs</h1>"
    body += (
        "<table><tr><th>task</th><th>status</th><th>rounds</th><th>time</th><th>cost</th>"
        f"<th>started</th></tr>{rows}</table>"
        if runs
        else "<p class=dim>No runs here yet.</p>"
    )
    if benches:
        body += f"<h1>Benches</h1><ul>{bench_links}</ul>"
    return page("magentic runs", body)


def _clip(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_html(summary: RunSummary) -> str:
    return (
        f'<p id="status">status <b>{esc(summary.status)}</b> · {summary.rounds} rounds · '
        f"{summary.seconds:.0f} s · {_money(summary.cost)}</p>"
    )


def run_head(summary: RunSummary) -> str:
    return f"<h1>{esc(_clip(summary.task, 300))}</h1>{status_html(summary)}"


def run_page(
    ref: str,
    summary: RunSummary,
    items: list[Any],
    unreadable: int,
    offset: int,
    *,
    partial: bool = False,
    steer: str = "",
) -> str:
    """`steer` is the steering panel (`steering.WebSteering.panel`) when this view serves
    the run in its own process."""
    notes = _notes(items, unreadable)
    if partial:
        notes += (
            '<p class="note">The trace\'s last line is not whole '
            "(still being written, or cut off): it is not shown.</p>"
        )
    rows = "".join(event_html(ref, item) for item in items)
    follow = f"/follow/run/{quote(ref)}?offset={offset}" if summary.status == "running" else ""
    body = (
        f'{run_head(summary)}{steer}{notes}<div id="events">{rows}</div>'
        '<pre id="streaming" class="dim" hidden></pre>'
    )
    return page(f"run: {_clip(summary.task, 60)}", body, follow=follow)


def _notes(items: list[Any], unreadable: int) -> str:
    unknown = sum(1 for i in items if isinstance(i, Unknown))
    parts = []
    if unreadable:
        parts.append(f"{unreadable} line(s) of the trace could not be read (cut off or damaged)")
    if unknown:
        parts.append(f"{unknown} event(s) from another version are shown as raw data")
    return f'<p class="note">{esc("; ".join(parts))}.</p>' if parts else ""


def _pre(text: Any) -> str:
    return f"<pre>{esc(text)}</pre>"


def _images(ref: str, event: Event) -> str:
    return "".join(
        f'<div><img loading="lazy" alt="{esc(p)}" src="/file/{quote(ref)}/{quote(p)}"></div>'
        for p in event.attachment_paths
    )


def event_html(ref: str, item: Any) -> str:
    """One event as a block of the run page ('' for events the page does not show)."""
    if isinstance(item, Unknown):
        raw = json.dumps(item.data, ensure_ascii=False)[:2000]
        return f'<div class="ev unknown"><b>{esc(item.kind)}</b> (not read: {esc(item.problem)}){_pre(raw)}</div>'
    e: Any = item
    kind = e.kind
    inner = ""
    if kind == "run_started":
        inner = f"<b>task</b>{_pre(e.task)}<span class=dim>team: {esc(', '.join(e.agents))}</span>"
    elif kind == "ledger_updated":
        label = "plan" if e.replan == 0 else f"new plan #{e.replan}"
        inner = f"<b>{esc(label)}</b>{_pre(e.plan)}<details><summary>facts</summary>{_pre(e.facts)}</details>"
    elif kind == "progress_assessed":
        rows = "".join(
            f"<tr><td>{esc(k)}</td><td>{esc(v.get('answer') if isinstance(v, dict) else v)}</td>"
            f"<td class=dim>{esc(v.get('reason', '') if isinstance(v, dict) else '')}</td></tr>"
            for k, v in e.ledger.items()
        )
        inner = (
            f"<b>round {e.round}: progress ledger</b> (stalls {e.stall_count})<table>{rows}</table>"
        )
    elif kind == "delegated":
        inner = f"<b>round {e.round} → {esc(e.agent)}</b>{_pre(e.instruction)}"
    elif kind == "agent_acted":
        args = json.dumps(e.args, ensure_ascii=False)[:1000]
        outcome = f"<b>error</b>{_pre(e.error)}" if e.error else _pre(_clip_block(e.result))
        inner = (
            f"{esc(e.agent)}.<b>{esc(e.action)}</b> <span class=dim>{esc(args)} · "
            f"{e.duration_ms:.0f} ms</span>{outcome}{_images(ref, e)}"
        )
    elif kind == "agent_replied":
        files = f"<div class=dim>files: {esc(', '.join(e.files))}</div>" if e.files else ""
        inner = f"<b>{esc(e.agent)} replied</b>{_pre(e.text)}{files}{_images(ref, e)}"
    elif kind == "model_called":
        inner = (
            f"{esc(e.role)} · {esc(e.model)} · {e.prompt_tokens}+{e.completion_tokens} tokens · "
            f"{e.latency_ms:.0f} ms · {_money(e.cost)}{' · cached' if e.cache_hit else ''}"
        )
    elif kind == "model_call_failed":
        inner = f"{esc(e.role)} model, attempt {e.attempt}: {esc(e.reason)} ({esc(e.next)})"
    elif kind in ("stalled", "replanned"):
        inner = f"<b>{esc(kind)}</b>: {esc(e.reason)}"
    elif kind == "context_trimmed":
        inner = f"{esc(e.role)} request cut to fit {e.context_tokens} tokens"
    elif kind == "final_answer":
        inner = f"<b>answer</b>{_pre(e.answer)}"
    elif kind == "run_failed":
        inner = f"<b>failed</b>: {esc(e.reason)}"
    elif kind == "run_finished":
        inner = (
            f"<b>{esc(e.status)}</b>: {esc(e.stop_reason)} · {e.rounds} rounds · "
            f"{e.prompt_tokens + e.completion_tokens} tokens · {_money(e.cost)} · {e.seconds:.1f} s"
        )
    else:
        return ""
    return f'<div class="ev {esc(kind)}">{inner}</div>'


def _clip_block(text: str, limit: int = 4000) -> str:
    return (
        text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"
    )


# Benches ----------------------------------------------------------------------------------
def result_row(record: dict[str, Any], run_ref: str | None) -> str:
    task = esc(record.get("task_id", "?"))
    link = f'<a href="/run/{quote(run_ref)}">{task}</a>' if run_ref else task
    correct = record.get("correct")
    score = "✓" if correct is True else "✗" if correct is False else "–"
    tokens = int(record.get("prompt_tokens", 0) or 0) + int(record.get("completion_tokens", 0) or 0)
    return (
        f"<tr><td>{link}</td><td>{esc(record.get('level', ''))}</td>"
        f"<td>{esc(record.get('status', ''))}</td><td>{score}</td>"
        f"<td>{float(record.get('seconds', 0) or 0):.0f} s</td>"
        f"<td>{_money(float(record.get('cost', 0) or 0))}</td><td>{tokens:,}</td></tr>"
    )


def accuracy_html(records: list[dict[str, Any]]) -> str:
    by_level: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        if record.get("correct") is not None:
            by_level[str(record.get("level", "?"))].append(bool(record["correct"]))
            by_level["all"].append(bool(record["correct"]))
    if not by_level:
        return "<p class=dim>Nothing scored yet.</p>"
    rows = "".join(
        f"<tr><td>{esc(level)}</td><td>{sum(v)}/{len(v)}</td><td>{100 * sum(v) / len(v):.1f}%</td></tr>"
        for level, v in sorted(by_level.items(), key=lambda kv: (kv[0] == "all", kv[0]))
    )
    return f"<table><tr><th>level</th><th>correct</th><th>accuracy</th></tr>{rows}</table>"


def bench_page(
    ref: str, rows: list[str], records: list[dict[str, Any]], unreadable: int, offset: int
) -> str:
    note = (
        f'<p class="note">{unreadable} line(s) of results.jsonl could not be read.</p>'
        if unreadable
        else ""
    )
    body = (
        f"<h1>Bench {esc(ref)}</h1>{note}<h2>Accuracy by level</h2>"
        f'<div id="accuracy">{accuracy_html(records)}</div><h2>Results</h2>'
        "<table><thead><tr><th>task</th><th>level</th><th>status</th><th>score</th>"
        f'<th>time</th><th>cost</th><th>tokens</th></tr></thead><tbody id="events">{"".join(rows)}'
        "</tbody></table>"
    )
    return page(f"bench {ref}", body, follow=f"/follow/bench/{quote(ref)}?offset={offset}")
