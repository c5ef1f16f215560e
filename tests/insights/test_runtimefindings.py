"""Leaks and repeated OOM kills become findings of the owning app (owner, SLA, lifecycle) through the
findings ingestion, as scans of the ``runtime`` source in the app's environment, on SQLite and
PostgreSQL: a runtime ingestion and a CI scan of the same scope never fix each other's findings; and
the bearer token reaches Prometheus."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leitplanke.governance import findings, findingstates
from leitplanke.insights import containers, leaks, prometheus, runtimefindings
from leitplanke.settings import DEFAULT_SLA_DAYS
from leitplanke.store import repositories
from leitplanke.store.rows import Scan

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024


def _growing(pod: str, *, mib_per_hour: float, limit_mib: float = 512) -> containers.ContainerSeries:
    start = NOW.timestamp() - 24 * 3600
    points = tuple((start + m * 600, (200 + mib_per_hour * m / 6) * MIB) for m in range(145))
    return containers.ContainerSeries("shop", pod, "app", points, limit_mib * MIB, (), ())


def _results(*series: containers.ContainerSeries) -> list[object]:
    return leaks.runtime_results(leaks.judge_all(series))


def _states(database: object) -> set[tuple[str, str, str, str]]:
    """(policy, resource name, status, source) of every finding."""
    with database.reading() as session:  # type: ignore[attr-defined]
        _, rows = repositories.query_findings(session, repositories.FindingFilter(), limit=100)
    return {(f.policy, f.name, f.status, f.source) for f, _, _, _ in rows}


def _ci_scan(
    database: object, results: list[object], *, at: datetime, source: str = findingstates.CI
) -> object:
    return findings.ingest_scan(
        database,  # type: ignore[arg-type]
        app="checkout",
        env="prod",
        results=results,  # type: ignore[arg-type]
        summary={},
        generated_at="",
        actor="token:ci",
        now=at,
        sla_days=DEFAULT_SLA_DAYS,
        source=source,
    )


def _runtime(database: object, results: list[object], *, at: datetime) -> findings.Ingested:
    (done,), _ = runtimefindings.ingest_runtime(
        database,  # type: ignore[arg-type]
        results=results,  # type: ignore[arg-type]
        owners={"shop": "checkout"},
        env="prod",
        actor="insights",
        now=at,
        sla_days=DEFAULT_SLA_DAYS,
    )
    return done


def _findings(database: object) -> list[tuple[str, str, str, str, str, str, str, object]]:
    with database.reading() as session:  # type: ignore[attr-defined]
        _, rows = repositories.query_findings(session, repositories.FindingFilter(), limit=100)
    return [
        (app, team, env, f.policy, f"{f.kind}/{f.namespace}/{f.name}", f.severity, f.status, f.sla_due)
        for f, app, team, env in rows
    ]


def test_a_leak_reaching_its_limit_within_a_day_becomes_a_critical_finding_of_the_owning_app_with_its_sla(
    catalog_database: object,
) -> None:
    results = _results(_growing("cart-7d9c5b8f6-x2k4p", mib_per_hour=8))
    done, unowned = runtimefindings.ingest_runtime(
        catalog_database,  # type: ignore[arg-type]
        results=results,  # type: ignore[arg-type]
        owners={"shop": "checkout", "data": "warehouse"},
        env="prod",
        actor="insights",
        now=NOW,
        sla_days=DEFAULT_SLA_DAYS,
    )
    assert unowned == []
    assert [(d.app, d.env, d.transitions) for d in done] == [
        ("checkout", "prod", {"none->new": 1}),
        ("warehouse", "prod", {}),
    ]
    assert _findings(catalog_database) == [
        (
            "checkout",
            "team-shop",
            "prod",
            "runtime-memory-leak",
            "Deployment/shop/cart",
            "critical",
            "new",
            NOW + timedelta(days=15),
        ),
    ]


def test_a_leak_that_is_gone_is_fixed_by_the_next_runtime_ingestion(catalog_database: object) -> None:
    kwargs = {
        "owners": {"shop": "checkout"},
        "env": "prod",
        "actor": "insights",
        "sla_days": DEFAULT_SLA_DAYS,
    }
    runtimefindings.ingest_runtime(
        catalog_database,
        results=_results(_growing("cart-7d9c5b8f6-x2k4p", mib_per_hour=8)),
        now=NOW,
        **kwargs,
    )  # type: ignore[arg-type]
    later = NOW + timedelta(days=1)
    done, _ = runtimefindings.ingest_runtime(
        catalog_database,
        results=_results(_growing("cart-7d9c5b8f6-x2k4p", mib_per_hour=0)),
        now=later,
        **kwargs,
    )  # type: ignore[arg-type]
    assert [d.transitions for d in done] == [{"new->fixed": 1}]


def test_a_runtime_ingestion_and_a_ci_scan_of_one_scope_never_fix_each_others_findings(
    catalog_database: object, result: object
) -> None:
    hour = timedelta(hours=1)
    leak = _results(_growing("cart-7d9c5b8f6-x2k4p", mib_per_hour=8))
    privileged = [result("no-privileged", "containers", "web")]  # type: ignore[operator]
    _ci_scan(catalog_database, privileged, at=NOW)
    assert _runtime(catalog_database, leak, at=NOW + hour).transitions == {"none->new": 1}
    assert _states(catalog_database) == {
        ("no-privileged", "web", "new", "ci"),
        ("runtime-memory-leak", "cart", "new", "runtime"),
    }
    # a CI scan that no longer reports its finding fixes it, and leaves the leak open
    assert _ci_scan(catalog_database, [], at=NOW + 2 * hour).transitions == {"new->fixed": 1}  # type: ignore[attr-defined]
    assert _states(catalog_database) == {
        ("no-privileged", "web", "fixed", "ci"),
        ("runtime-memory-leak", "cart", "new", "runtime"),
    }
    # the CI finding fails again; a runtime ingestion that finds no leak fixes the leak and nothing else
    _ci_scan(catalog_database, privileged, at=NOW + 3 * hour)
    assert _runtime(catalog_database, [], at=NOW + 4 * hour).transitions == {"new->fixed": 1}
    assert _states(catalog_database) == {
        ("no-privileged", "web", "reopened", "ci"),
        ("runtime-memory-leak", "cart", "fixed", "runtime"),
    }
    with catalog_database.reading() as session:  # type: ignore[attr-defined]
        scans = session.execute(select(Scan.source, Scan.summary).order_by(Scan.id)).all()
    assert [tuple(row) for row in scans] == [
        ("ci", {}),
        ("runtime", {"source": "runtime", "fail": 1}),
        ("ci", {}),
        ("ci", {}),
        ("runtime", {"source": "runtime", "fail": 0}),
    ]


def test_a_runtime_ingestion_leaves_an_admission_decisions_finding_open(
    catalog_database: object, result: object
) -> None:
    denied = [result("no-privileged", "containers", "web")]  # type: ignore[operator]
    _ci_scan(catalog_database, denied, at=NOW, source=findingstates.ADMISSION)
    assert _runtime(catalog_database, [], at=NOW + timedelta(hours=1)).transitions == {}
    assert _states(catalog_database) == {("no-privileged", "web", "new", "admission")}


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
