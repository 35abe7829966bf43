"""A real OTLP/HTTP receiver for tests: it decodes each export's protobuf and keeps it,
with the request's headers (a collector's token travels in one)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Received:
    url: str
    requests: list[ExportTraceServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def spans(self) -> list[Any]:
        return [
            span
            for request in self.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def resource_attributes(self) -> dict[str, Any]:
        return {
            key: value
            for request in self.requests
            for resource in request.resource_spans
            for key, value in attrs(resource.resource).items()
        }


def attrs(item: Any) -> dict[str, Any]:
    """A span's (or resource's) attributes as plain values."""
    out = {}
    for kv in item.attributes:
        value = kv.value
        out[kv.key] = value.string_value or value.int_value or value.bool_value
    return out


def serve() -> Iterator[Received]:
    """Serve on 127.0.0.1 until the generator is closed (use as a fixture body)."""
    received = Received(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.requests.append(request)
            received.headers.append({k.lower(): v for k, v in self.headers.items()})
            received.paths.append(self.path)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
