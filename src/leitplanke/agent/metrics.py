"""The agent's own Prometheus metrics, in a registry of its own (no process-wide globals).

Objects watched, evaluations (a counter: ``rate()`` gives evaluations/s), the change queue's depth,
PolicyReport writes, uploads, API errors by status, the objects drifted from Git and the evaluator
processes replaced. Built by ``agent.running``; served on ``--metrics-port`` by ``serve_metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


@dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    objects: Gauge
    evaluations: Counter
    queue_depth: Gauge
    report_writes: Counter
    uploads: Counter
    api_errors: Counter
    drifted: Gauge
    evaluator_restarts: Counter


def build_metrics() -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        objects=Gauge(
            "leitplanke_agent_objects_watched",
            "Live objects the agent holds a verdict for.",
            registry=registry,
        ),
        evaluations=Counter(
            "leitplanke_agent_evaluations", "Objects evaluated (changed or re-evaluated).", registry=registry
        ),
        queue_depth=Gauge(
            "leitplanke_agent_queue_depth", "Changes waiting to be evaluated.", registry=registry
        ),
        report_writes=Counter(
            "leitplanke_agent_report_writes",
            "PolicyReports applied or deleted.",
            ["operation"],
            registry=registry,
        ),
        uploads=Counter(
            "leitplanke_agent_uploads", "Uploads to the service by outcome.", ["outcome"], registry=registry
        ),
        api_errors=Counter(
            "leitplanke_agent_api_errors",
            "Kubernetes API errors by HTTP status (0: no answer).",
            ["status"],
            registry=registry,
        ),
        drifted=Gauge(
            "leitplanke_agent_drifted_objects",
            "Objects drifted, missing or extra against Git at the last comparison.",
            registry=registry,
        ),
        evaluator_restarts=Counter(
            "leitplanke_agent_evaluator_restarts",
            "Evaluator processes replaced, by reason (recycled, died, policies; zygote: their forker died).",
            ["reason"],
            registry=registry,
        ),
    )


def serve_metrics(figures: Metrics, *, port: int, address: str = "0.0.0.0") -> None:
    """``/metrics`` on ``port`` in a daemon thread of its own."""
    start_http_server(port, addr=address, registry=figures.registry)
