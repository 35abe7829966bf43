"""One TLS context per process for the HTTP clients that talk to model endpoints.

Building a context reads the CA bundle: about 50 ms of CPU each time. The SDK builds one
per client, a run makes a client per role plus one for the context-size probe, so a bench
paid it three times a task; with a fast (local) model that was most of a task's CPU. A
context is safe to share, and each is built by the HTTP library's own default, so the
trust store and the SSL_CERT_FILE / SSL_CERT_DIR variables mean what they always meant.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def sdk_context() -> ssl.SSLContext | None:
    """The openai SDK's default context (its HTTP library, httpx2), built once; None when
    the SDK uses another library, so it keeps building its own."""
    try:
        import httpx2
    except ImportError:
        return None
    return httpx2.create_ssl_context()


@functools.cache
def httpx_context() -> ssl.SSLContext:
    """httpx's default context (for our own probes of an endpoint), built once."""
    import httpx

    return httpx.create_ssl_context()
