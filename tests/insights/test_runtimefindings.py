"""Leaks and repeated OOM kills become findings of the owning app (owner, SLA, lifecycle) through the
findings ingestion, on SQLite and PostgreSQL; and the bearer token reaches Prometheus."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from leitplanke import catalog
from leitplanke.insights import containers, leaks, prometheus, runtimefindings
from leitplanke.settings import DEFAULT_SLA_DAYS
from leitplanke.store import repositories

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024


def _growing(pod: str, *, mib_per_hour: float, limit_mib: float = 512) -> containers.ContainerSeries:
    start = NOW.timestamp() - 24 * 3600
    points = tuple((start + m * 600, (200 + mib_per_hour * m / 6) * MIB) for m in range(145))
    return containers.ContainerSeries("shop", pod, "app", points, limit_mib * MIB, (), ())


def _results(*series: containers.ContainerSeries) -> list[object]:
    return leaks.runtime_results(leaks.judge_all(series))


@pytest.fixture
def runtime_database(catalog_database: object) -> object:
    catalog.put_environment(catalog_database, catalog.EnvironmentSpec("prod-runtime"), actor="test", now=NOW)  # type: ignore[arg-type]
    return catalog_database


def _findings(database: object) -> list[tuple[str, str, str, str, str, str, str, object]]:
    with database.reading() as session:  # type: ignore[attr-defined]
        _, rows = repositories.query_findings(session, repositories.FindingFilter(), limit=100)
    return [
        (app, team, env, f.policy, f"{f.kind}/{f.namespace}/{f.name}", f.severity, f.status, f.sla_due)
        for f, app, team, env in rows
    ]


def test_a_leak_reaching_its_limit_within_a_day_becomes_a_critical_finding_of_the_owning_app_with_its_sla(
    runtime_database: object,
) -> None:
    results = _results(_growing("cart-7d9c5b8f6-x2k4p", mib_per_hour=8))
    done, unowned = runtimefindings.ingest_runtime(
        runtime_database,  # type: ignore[arg-type]
        results=results,  # type: ignore[arg-type]
        owners={"shop": "checkout", "data": "warehouse"},
        env="prod-runtime",
        actor="insights",
        now=NOW,
        sla_days=DEFAULT_SLA_DAYS,
    )
    assert unowned == []
    assert [(d.app, d.env, d.transitions) for d in done] == [
        ("checkout", "prod-runtime", {"none->new": 1}),
        ("warehouse", "prod-runtime", {}),
    ]
    assert _findings(runtime_database) == [
        (
            "checkout",
            "team-shop",
            "prod-runtime",
            "runtime-memory-leak",
            "Deployment/shop/cart",
            "critical",
            "new",
            NOW + timedelta(days=15),
        ),
    ]


def test_a_leak_that_is_gone_is_fixed_by_the_next_runtime_ingestion(runtime_database: object) -> None:
    kwargs = {
        "owners": {"shop": "checkout"},
        "env": "prod-runtime",
        "actor": "insights",
        "sla_days": DEFAULT_SLA_DAYS,
    }
    runtimefindings.ingest_runtime(
        runtime_database,
        results=_results(_growing("cart-7d9c5b8f6-x2k4p", mib_per_hour=8)),
        now=NOW,
        **kwargs,
    )  # type: ignore[arg-type]
    later = NOW + timedelta(days=1)
    done, _ = runtimefindings.ingest_runtime(
        runtime_database,
        results=_results(_growing("cart-7d9c5b8f6-x2k4p", mib_per_hour=0)),
        now=later,
        **kwargs,
    )  # type: ignore[arg-type]
    assert [d.transitions for d in done] == [{"new->fixed": 1}]


def test_results_in_namespaces_no_app_owns_are_named_not_ingested() -> None:
    grouped, unowned = runtimefindings.apps_of(
        _results(_growing("x-7d9c5b8f6-x2k4p", mib_per_hour=8)), owners={}
    )  # type: ignore[arg-type]
    assert (grouped, unowned) == ({}, ["shop"])


class _BearerOnly(http.server.BaseHTTPRequestHandler):
    """A loopback stand-in for an authenticating proxy in front of Prometheus: 401 without the token."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = self.headers.get("Authorization") == "Bearer t0ken"
        body = b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"p"},"values":[[1,"2"]]}]}}'
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body) if ok else 0))
        self.end_headers()
        if ok:
            self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def bearer_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BearerOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_bearer_token_is_sent_and_a_missing_one_refused(bearer_server: str) -> None:
    window = {"start": NOW, "end": NOW, "step_seconds": 60}
    with prometheus.Prometheus(
        bearer_server, credentials=prometheus.Credentials(bearer_token="t0ken")
    ) as client:
        assert client.query_range("up", **window) == [
            prometheus.Series(labels={"pod": "p"}, points=((1.0, 2.0),))
        ]  # type: ignore[arg-type]
    with (
        prometheus.Prometheus(bearer_server) as client,
        pytest.raises(prometheus.PrometheusRefused) as refused,
    ):
        client.query_range("up", **window)  # type: ignore[arg-type]
    assert refused.value.status == 401


def test_an_answer_larger_than_the_bound_is_refused(bearer_server: str) -> None:
    credentials = prometheus.Credentials(bearer_token="t0ken")
    with (
        prometheus.Prometheus(bearer_server, credentials=credentials, max_bytes=20) as client,
        pytest.raises(prometheus.PrometheusRefused) as refused,
    ):
        client.query_range("up", start=NOW, end=NOW, step_seconds=60)
    assert str(refused.value) == f"{bearer_server}/api/v1/query_range: the answer exceeds 20 bytes"
