"""A loopback OTLP/HTTP receiver that keeps the raw bytes it gets and decodes them.

Real exporters post protobuf to it over real HTTP; tests read back spans and metrics, and
search the raw (decompressed) bodies for canaries.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Received:
    """Everything posted so far, by path, in arrival order."""

    bodies: dict[str, list[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def raw(self) -> bytes:
        with self.lock:
            return b"".join(b for bodies in self.bodies.values() for b in bodies)

    def spans(self) -> list[Any]:
        """Every span received, decoded."""
        return [
            span
            for request in self._decoded("/v1/traces", ExportTraceServiceRequest)
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def metrics(self) -> list[Any]:
        """Every metric received, decoded (one entry per export that carried it)."""
        return [
            metric
            for request in self._decoded("/v1/metrics", ExportMetricsServiceRequest)
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        ]

    def logs(self) -> list[Any]:
        """Every log record received, decoded, in arrival order."""
        return [
            record
            for request in self._decoded("/v1/logs", ExportLogsServiceRequest)
            for resource in request.resource_logs
            for scope in resource.scope_logs
            for record in scope.log_records
        ]

    def _decoded(self, path: str, message: Any) -> list[Any]:
        with self.lock:
            bodies = list(self.bodies.get(path, []))
        return [message.FromString(body) for body in bodies]


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    """A receiver on 127.0.0.1 (port 0): yields its base URL and what it received."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with received.lock:
                received.bodies.setdefault(self.path, []).append(body)
            replies: dict[str, Any] = {
                "/v1/traces": ExportTraceServiceResponse,
                "/v1/logs": ExportLogsServiceResponse,
            }
            reply = replies.get(self.path, ExportMetricsServiceResponse)().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
