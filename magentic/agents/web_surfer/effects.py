"""A POST the page sends, once in the life of a run (see `magentic.control.effects`).

The approval backstop's route hands a POST it lets through to `send_once`: the request
is journaled before it leaves, sent by Playwright (`route.fetch`, through the context's
proxy and cookies, redirects not followed so the browser follows them itself), its response
journaled, then given to the page. When a resumed round makes the page send the same POST
(same address, same form fields; anti-forgery tokens, new on each load, aside), the
recorded response is given to the page and nothing is sent;
a POST that left before a kill with no response recorded is not sent again unless a person
says so.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Request, Route

from magentic.control.effects import EffectJournal, NotRepeated, effect_key

_BODY_LIMIT = 2 * 1024 * 1024  # bytes of a response kept for a replay
_SKIPPED_HEADERS = {"content-length", "content-encoding", "transfer-encoding"}


# Form fields whose values a page makes anew for each load (anti-forgery tokens, nonces):
# the same order placed again after a reload differs only in them.
_FRESH_FIELDS = re.compile(r"csrf|xsrf|token|nonce|authenticity|verification", re.IGNORECASE)
_PART_NAME = re.compile(rb'Content-Disposition:[^\r\n]*\bname="([^"]*)"', re.IGNORECASE)


def _identity(request: Request, body: bytes) -> list[Any]:
    """What makes two POSTs the same action: the method, the address and the form's
    fields (names and values, less the values a page makes anew for each load); the whole
    body for anything that is not a form."""
    method, kind = request.method.upper(), (request.headers.get("content-type") or "").lower()
    if kind.startswith("application/x-www-form-urlencoded"):
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = sorted((k, "" if _FRESH_FIELDS.search(k) else v) for k, v in pairs)
        return [method, request.url, "form", fields]
    if kind.startswith("multipart/form-data"):  # its boundary is new on every submission
        names = sorted(n.decode("utf-8", "replace") for n in _PART_NAME.findall(body))
        return [method, request.url, "multipart", names]
    return [method, request.url, hashlib.sha256(body).hexdigest()]


def sends_once(request: Request) -> bool:
    """Whether this request is one the journal keeps: a POST, PUT, PATCH or DELETE the page
    sends as a navigation or a script's request."""
    return request.method.upper() in ("POST", "PUT", "PATCH", "DELETE") and (
        request.resource_type in ("document", "fetch", "xhr")
    )


async def send_once(
    route: Route, request: Request, effects: EffectJournal, agent: str, refused: list[str]
) -> None:
    """Send the request through the journal (see the module docstring)."""
    body = request.post_data_buffer or b""
    key = effect_key(agent, "submit_form", _identity(request, body))
    what = f"{request.method.upper()} {request.url[:300]} ({len(body)} bytes)"

    async def send() -> dict[str, Any]:
        response = await route.fetch(max_redirects=0)
        data = await response.body()
        return {
            "status": response.status,
            "headers": [
                [h["name"], h["value"]]
                for h in response.headers_array
                if h["name"].lower() not in _SKIPPED_HEADERS
            ],
            "body": base64.b64encode(data[:_BODY_LIMIT]).decode(),
        }

    try:
        outcome = await effects.once(agent, "submit_form", key, what, send)
    except PlaywrightError:  # the page or the connection went away: as the browser would
        with contextlib.suppress(PlaywrightError):
            await route.abort("failed")
        return
    if isinstance(outcome, NotRepeated):
        refused.append(f"The page tried to send {what}; it was not sent: {outcome.reason}.")
        with contextlib.suppress(PlaywrightError):
            await route.abort("aborted")
        return
    recorded = outcome.result
    if outcome.replayed:
        refused.append(
            f"The page sent {what} before the run was interrupted and resumed; it was not "
            "sent again, and the recorded response was shown."
        )
    headers: dict[str, str] = {}
    for name, value in recorded.get("headers", []):
        # Repeated headers (Set-Cookie) are joined as the fulfil call expects them.
        headers[name] = f"{headers[name]}\n{value}" if name in headers else value
    with contextlib.suppress(PlaywrightError):
        await route.fulfill(
            status=int(recorded.get("status", 200)),
            headers=headers,
            body=base64.b64decode(recorded.get("body", "")),
        )
