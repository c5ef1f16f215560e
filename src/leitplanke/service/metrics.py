"""Prometheus metrics of one application instance, in a registry of its own (no global state)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "leitplanke_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leitplanke_http_request_seconds",
            "Time to answer a request",
            ["method", "route"],
            registry=self.registry,
        )
        self.scans = Counter("leitplanke_scans_ingested", "Scan uploads ingested", registry=self.registry)
        self.transitions = Counter(
            "leitplanke_finding_transitions", "Finding status changes", ["transition"], registry=self.registry
        )
        self.denials = Counter(
            "leitplanke_access_denied", "Requests refused for want of a role", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Measuring:
    """Counts every request by method, route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
