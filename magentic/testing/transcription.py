"""The scripted server's `/audio/transcriptions` route: a multipart upload, parsed as a real
endpoint would, and answered from a test's `TranscribeScript`.

The request keeps the exact bytes uploaded, so a test can check that the audio the client
sent is the file's (or a valid chunk of it), not a stand-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any


@dataclass
class TranscriptionRequest:
    """One upload: the form fields and the file part."""

    index: int
    fields: dict[str, str]
    filename: str
    audio: bytes
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.fields.get("model", "")

    @property
    def response_format(self) -> str:
        return self.fields.get("response_format", "json")


# A script returns the transcript text, or a dict in OpenAI's verbose_json shape
# ({"text": ..., "segments": [{"start": s, "end": s, "text": ...}, ...]}).
TranscribeScript = Callable[[TranscriptionRequest], "str | dict[str, Any]"]


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], str, bytes, str]:
    """(text fields, file name, file bytes, file content type) of a multipart/form-data body.

    Raises ValueError when the body is not multipart or carries no file part.
    """
    if "multipart/form-data" not in content_type:
        raise ValueError("the request is not multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    filename, audio, part_type = "", b"", ""
    found = False
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        raw = part.get_payload(decode=True)
        payload = raw if isinstance(raw, bytes) else b""
        if part.get_filename() is not None:
            filename, audio, part_type, found = (
                part.get_filename() or "",
                payload,
                part.get_content_type(),
                True,
            )
        elif isinstance(name, str):
            fields[name] = payload.decode("utf-8", "replace")
    if not found:
        raise ValueError("the request has no file part")
    return fields, filename, audio, part_type


def reply_body(request: TranscriptionRequest, answer: str | dict[str, Any]) -> dict[str, Any] | str:
    """The response for the requested format: verbose_json keeps segments, json only text."""
    data = {"text": answer} if isinstance(answer, str) else dict(answer)
    fmt = request.response_format
    if fmt == "text":
        return str(data.get("text", ""))
    if fmt == "verbose_json":
        return {
            "task": "transcribe",
            "language": "english",
            "duration": 0.0,
            "segments": [],
            **data,
        }
    return {"text": data.get("text", "")}
