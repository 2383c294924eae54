"""Prometheus metrics and the /health endpoint, served on --metrics-port by prometheus_client's WSGI app."""

from __future__ import annotations

import errno
import json
import socket
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app

from ticklake_dagster.core.errors import TicklakeError


class IngestMetrics:
    """One registry per service, so tests can run several in a process. Labels hold valid symbols only."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "ticklake_ingest_ticks_received", "Ticks (or undecodable messages) received", registry=r
        )
        self.accepted = Counter("ticklake_ingest_ticks_accepted", "Ticks fsynced to the spool", ["symbol"], registry=r)
        self.rejected = Counter("ticklake_ingest_ticks_rejected", "Ticks refused, by reason", ["reason"], registry=r)
        self.uploaded_ticks = Counter(
            "ticklake_ingest_ticks_uploaded", "Ticks written to the lake", ["symbol"], registry=r
        )
        self.parts = Counter("ticklake_ingest_parts_uploaded", "Parts written to the lake", ["symbol"], registry=r)
        self.part_bytes = Counter("ticklake_ingest_part_bytes", "Bytes of parts written to the lake", registry=r)
        self.failures = Counter(
            "ticklake_ingest_upload_failures", "Failed part uploads (each retried)", ["symbol"], registry=r
        )
        self.last_upload = Gauge(
            "ticklake_ingest_last_upload_timestamp_seconds",
            "Unix time of the last part written",
            ["symbol"],
            registry=r,
        )
        self.spool_bytes = Gauge("ticklake_ingest_spool_bytes", "Bytes in the spool's segments", registry=r)
        self.spool_ticks = Gauge("ticklake_ingest_spool_ticks", "Accepted ticks not yet in the lake", registry=r)
        self.spool_corrupt_bytes = Counter(
            "ticklake_ingest_spool_corrupt_bytes",
            "Spool bytes found damaged on replay (their ticks are lost)",
            registry=r,
        )
        self.disconnects = Counter(
            "ticklake_ingest_source_disconnects", "WebSocket disconnects", ["source"], registry=r
        )

    def value(self, name: str, **labels) -> float:
        """A sample's current value (0 when absent): for /health and the tests."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def total(self, name: str) -> float:
        """Sum of a metric's samples over all label values, e.g. total("ticklake_ingest_ticks_accepted_total")."""
        return sum(s.value for mf in self.registry.collect() for s in mf.samples if s.name == name)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, address, handler):
        if ":" in address[0]:  # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # scrapes would flood the JSON log
        pass


class MetricsServer:
    """`/metrics` (Prometheus text format) and `/health` (JSON, 503 once failed), in a daemon thread."""

    def __init__(self, metrics: IngestMetrics, health: Callable[[], dict], port: int, host: str = "127.0.0.1"):
        prometheus = make_wsgi_app(metrics.registry)

        def app(environ, start_response):
            if environ.get("PATH_INFO") == "/health":
                state = health()
                body = json.dumps(state).encode()
                status = "503 Service Unavailable" if state.get("status") == "failed" else "200 OK"
                start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
                return [body]
            return prometheus(environ, start_response)

        try:
            self._server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
        except OSError as e:
            hint = ": choose another --metrics-port" if e.errno == errno.EADDRINUSE else ""
            raise TicklakeError(f"Cannot serve metrics on {host}:{port}: {e.strerror or e}{hint}") from None
        # typeshed allows a bytes address (AF_UNIX); an AF_INET(6) server's is (host, port, ...)
        self.address = cast(tuple[str, int], self._server.server_address[:2])
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
