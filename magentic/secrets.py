"""One redaction step for every place text leaves the process.

An endpoint can echo the API key back (in an error message, in a reply), and from there it
would reach the console, the answer on stdout, `--json`, the trace, report.html, the bench's
results.jsonl, report.md and submission.jsonl, and the logs. Every one of those sinks passes
its text through `redact()`, which knows:

- every key a config names (registered by the team when a run starts), and
- the value of every `*_API_KEY`, `*_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD` (and a few
  more) variable in the environment, read when first needed,
- each of those also bare: a header value such as `Bearer abc...` or `Basic ...` is
  registered with and without its scheme, since the token alone is what an endpoint echoes,
- plus anything shaped like a well-known provider key (`sk-...`, `ghp_...`, `AKIA...`,
  `xoxb-...`, `hf_...`, `AIza...`) and whatever follows `Bearer ` in an `Authorization`-like
  text, known or not.

The CLI wraps stdout and stderr in `RedactingStream` for the whole command and puts
`RedactingFilter` on the log handlers, so printing code needs no care of its own; files are
redacted where they are written (the trace writer, report.html, the bench's results).

Values shorter than `MIN_SECRET_CHARS` are ignored: replacing "1" or "yes" everywhere would
wreck the text and protect nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

from magentic.text import escape_surrogates

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8
_KEY_SHAPES = re.compile(
    r"\b("
    r"sk-[A-Za-z0-9_\-]{16,}"  # OpenAI, Anthropic (sk-ant-...), many compatible servers
    r"|AIza[0-9A-Za-z_\-]{30,}"  # Google
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_\-]{20,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"  # JWTs
    r")"
)
# A bearer credential, known or not: the scheme stays, the token goes.
# A digit is asked for so that prose ("the bearer instruments") stays as it is.
_BEARER = re.compile(r"\b([Bb]earer\s+)(?=[A-Za-z._~+/=\-]*\d)([A-Za-z0-9._~+/=\-]{12,})")
_SECRET_NAMES = re.compile(
    r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|AUTH)$", re.IGNORECASE
)
# "Bearer abc", "Basic abc", "token abc", "ApiKey abc": the credential after the scheme.
_SCHEME = re.compile(r"^\s*[A-Za-z][A-Za-z0-9_\-]{1,20}\s+(\S+)\s*$")


class Redactor:
    """Replaces known secret values, longest first, and key-shaped strings."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []
        self._lock = threading.Lock()
        self.add(values)

    def add(self, values: Iterable[str | None]) -> None:
        forms: set[str] = set()
        for value in values:
            if not value:
                continue
            forms.add(value)
            forms.add(value.strip())
            scheme = _SCHEME.match(value)
            if scheme:  # also bare: the token without "Bearer "
                forms.add(scheme.group(1))
        with self._lock:
            fresh = {v for v in forms if len(v.strip()) >= MIN_SECRET_CHARS}
            if fresh - self._values:
                self._values |= fresh
                self._ordered = sorted(self._values, key=len, reverse=True)

    def add_environment(self, environ: Mapping[str, str] | None = None) -> None:
        """Every value in `environ` whose name ends like a secret's (`*_API_KEY`, `*_KEY`,
        `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, ...). A false positive costs a redacted word; a
        miss costs a leaked key."""
        env = os.environ if environ is None else environ
        self.add(value for name, value in env.items() if _SECRET_NAMES.search(name))

    def releasable(self, text: str) -> int:
        """How much of a text still growing (a streamed reply) can be redacted and shown now:
        up to its last whitespace (a key-shaped word may go on), and never into a known
        secret, whole or begun, that runs past that point."""
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
        moved = True
        while moved and cut > 0:
            moved = False
            for secret in self._ordered:
                for start in range(max(0, cut - len(secret) + 1), cut):
                    if secret.startswith(text[start : start + len(secret)]):
                        cut, moved = start, True
                        break
        return cut

    def __call__(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _KEY_SHAPES.sub(REDACTED, text)
        return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


_redactor: Redactor | None = None
_setup = threading.Lock()


def redactor() -> Redactor:
    """The process-wide redactor, primed with the environment's secrets on first use."""
    global _redactor
    if _redactor is None:
        with _setup:
            if _redactor is None:
                made = Redactor()
                made.add_environment()
                _redactor = made
    return _redactor


def register(values: Iterable[str | None]) -> None:
    """Add secrets (a config's API keys) to what every sink redacts."""
    redactor().add(values)


def redact(text: str) -> str:
    """`text` with every known secret replaced by `[redacted]`."""
    return redactor()(text)


def releasable(text: str) -> int:
    """See `Redactor.releasable`."""
    return redactor().releasable(text)


def redact_values(value: Any) -> Any:
    """JSON-like data with every string redacted, value by value: never over the encoded
    text, where a secret that looks like a number could break the JSON."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_values(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's final message (and its traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def redact_logging(root: logging.Logger | None = None) -> None:
    """Put the redacting filter on every handler of the root logger (call after setup)."""
    for handler in (root or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


class RedactingStream:
    """A text stream that redacts what is written to it (and escapes undecodable bytes,
    which a strict stdout would otherwise refuse with an exception)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape_surrogates(redact(text)))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacted_stdio() -> Iterator[None]:
    """stdout and stderr redacted for the duration (the CLI's whole command)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = RedactingStream(saved[0])
    sys.stderr = RedactingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
