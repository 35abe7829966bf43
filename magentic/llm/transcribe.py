"""Speech to text through the endpoint's OpenAI-compatible `/audio/transcriptions` route.

Kept apart from the chat code in `client.py` (which calls in here from
`ModelClient.transcribe`): an audio upload is multipart, not JSON, has its own size limit
(25 MB at OpenAI) and its own answer shape. Segments with start and end times are kept when
the endpoint gives them (`verbose_json`); an endpoint that refuses that format is asked
again for plain `json`.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import openai

from magentic.errors import ModelError

if TYPE_CHECKING:
    from magentic.llm.client import ModelClient

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit for one transcription request


class TranscriptionUnavailable(ModelError):
    """The endpoint has no transcription route (or no such transcription model)."""


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    segments: list[Segment] = field(default_factory=list)
    language: str | None = None
    # What the endpoint says the upload cost it: the audio's length (verbose_json's
    # `duration`, or usage of type "duration") and tokens (usage of type "tokens").
    seconds: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0


async def transcribe(client: ModelClient, audio: bytes, filename: str) -> Transcript:
    """One upload's transcript, with the client's retries for transient failures."""
    s = client.settings
    attempt = 0
    fmt: Literal["json", "verbose_json"] = "verbose_json"
    while True:
        attempt += 1
        try:
            return await _once(client, audio, filename, fmt)
        except _FormatRefused:
            fmt = "json"
            continue
        except ModelError as error:
            if not error.retryable or attempt > s.max_retries:
                raise
            wait = error.retry_after or min(s.retry_backoff_s * 2 ** (attempt - 1), 20.0)
            await asyncio.sleep(wait * (0.75 + random.random() / 2))


class _FormatRefused(Exception):
    pass


async def _once(
    client: ModelClient, audio: bytes, filename: str, fmt: Literal["json", "verbose_json"]
) -> Transcript:
    s = client.settings
    where = s.display_url()
    try:
        response = await client.transport._client().audio.transcriptions.create(
            model=s.model,
            file=(filename, audio),
            response_format=fmt,
        )
    except openai.APIStatusError as error:
        if error.status_code == 404:
            raise TranscriptionUnavailable(
                f"the endpoint {where} has no audio transcription route for model "
                f"'{s.model}' (404: {_detail(error)})",
                status=404,
            ) from None
        if error.status_code in (400, 422) and fmt != "json" and "format" in _detail(error):
            raise _FormatRefused from None
        status = error.status_code
        raise ModelError(
            f"the transcription endpoint {where} answered {status}: {_detail(error)}",
            status=status,
            retryable=status in (408, 409, 429, 500, 502, 503, 504),
        ) from None
    except openai.APITimeoutError:
        raise ModelError(
            f"the transcription at {where} did not answer within {s.timeout_s:g}s",
            retryable=True,
        ) from None
    except openai.APIConnectionError as error:
        cause = error.__cause__ or error
        raise ModelError(
            f"cannot reach the transcription endpoint at {where} ({type(cause).__name__})",
            retryable=True,
        ) from None
    except (ValueError, openai.APIResponseValidationError):
        raise ModelError(f"{where} returned a malformed transcription", retryable=True) from None
    return _parse(response)


def _parse(response: Any) -> Transcript:
    if isinstance(response, str):
        return Transcript(response.strip())
    # An endpoint's odd field (a "duration" that is text) must not warn: it is just unread.
    data = (
        response.model_dump(warnings=False) if hasattr(response, "model_dump") else dict(response)
    )
    segments = []
    for seg in data.get("segments") or []:
        try:
            segments.append(Segment(float(seg["start"]), float(seg["end"]), str(seg["text"])))
        except (KeyError, TypeError, ValueError):
            continue
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return Transcript(
        str(data.get("text") or "").strip(),
        segments,
        data.get("language"),
        seconds=_number(usage.get("seconds"), float) or _number(data.get("duration"), float),
        input_tokens=_number(usage.get("input_tokens"), int) or 0,
        output_tokens=_number(usage.get("output_tokens"), int) or 0,
    )


def _number(value: Any, kind: type[float] | type[int]) -> Any:
    """A non-negative number from an endpoint's answer, or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return kind(value)


def _detail(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(error.message or error)[:300]
