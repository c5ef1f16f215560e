"""Uploads ingested in the service's ingestion process (``service.ingesting``), on SQLite and PostgreSQL:
the same answers as when the server's process ingests them itself, refusals included; a server whose
ingestion process is gone answers 500 once and then ingests in its own process."""

from __future__ import annotations

import gzip
import json
import os
import signal
import threading
from datetime import UTC, datetime
from typing import Any

from leitplanke.cli import uploading
from leitplanke.core.results import ScanReport

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
NDJSON = "application/x-ndjson"


def _v2(results: list[Any], *, app: str = "checkout", env: str = "prod") -> bytes:
    report = ScanReport(results=list(results), documents=len(results)).finish()
    return b"".join(uploading.render_upload(report, app=app, env=env, now=NOW))


def _post(service: Any, body: Any, *, who: str = "shop-dev", media: str = NDJSON, query: str = "") -> Any:
    headers = {"Content-Type": media, **service.headers(who)}
    return service.client.post(f"/api/v1/scans{query}", content=body, headers=headers)


def _answer(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json()


def _findings(service: Any) -> list[tuple[str, str, str, str]]:
    page = service.client.get("/api/v1/findings", headers=service.headers("admin")).json()
    return sorted((f["policy"], f["rule"], f["resource"]["name"], f["status"]) for f in page["items"])


def test_the_ingestion_process_runs_while_the_service_does_and_ingests_uploads(
    service: Any, result: Any
) -> None:
    ingester = service.client.app.state.ingester
    assert ingester.running
    body = _v2([result("no-privileged", "containers", "web"), result("probes", "liveness", "api")])
    response = _post(service, iter([body[:50], body[50:]]))
    assert _answer(response) == (
        201,
        {
            "scan": 1,
            "app": "checkout",
            "env": "prod",
            "findings": 2,
            "transitions": {"none->new": 2},
            "unrecognisedWaivers": [],
        },
    )
    assert _findings(service) == [
        ("no-privileged", "containers", "web", "new"),
        ("probes", "liveness", "api", "new"),
    ]
    again = service.client.post(
        "/api/v1/scans",
        content=gzip.compress(body),
        headers={"Content-Type": NDJSON, "Content-Encoding": "gzip", **service.headers("shop-dev")},
    )
    assert again.json()["transitions"] == {"new->open": 2}


def _refusals(result: Any) -> list[tuple[str, dict[str, Any]]]:
    good = _v2([result("no-privileged", "containers", "web")])
    header = good.splitlines()[0] + b"\n"
    return [
        ("a result that lacks its rule", {"body": header + b'{"policy": "p", "verdict": "fail"}\n'}),
        ("a header that is no JSON", {"body": b"{nope\n"}),
        ("an app the catalog lacks", {"body": _v2([result("p", "r", "web")], app="nowhere")}),
        ("an app of another team", {"body": _v2([result("p", "r", "web")], app="warehouse")}),
        ("a query that names another env", {"body": good, "query": "?app=checkout&env=dev"}),
        (
            "a JSON report without its scan",
            {"body": json.dumps({"app": "checkout"}).encode(), "media": "application/json"},
        ),
        ("a body that is not gzip", {"body": b"plain", "encoding": "gzip"}),
    ]


def test_refusals_are_answered_by_the_ingestion_process_exactly_as_by_the_server_itself(
    service: Any, threaded_service: Any, result: Any
) -> None:
    for what, case in _refusals(result):
        answers = []
        for each in (service, threaded_service):
            headers = {"Content-Type": case.get("media", NDJSON), **each.headers("shop-dev")}
            if "encoding" in case:
                headers["Content-Encoding"] = case["encoding"]
            response = each.client.post(
                f"/api/v1/scans{case.get('query', '')}", content=case["body"], headers=headers
            )
            answers.append((response.status_code, response.headers["content-type"], response.json()))
        assert answers[0] == answers[1], what
        assert answers[0][0] in (400, 403, 404, 422), what
    assert [_findings(service), _findings(threaded_service)] == [[], []]


def test_a_refusal_by_the_ingestion_process_is_audited_by_the_server(service: Any, result: Any) -> None:
    response = _post(service, _v2([result("p", "r", "web")], app="warehouse"))
    assert response.status_code == 403
    text = service.client.get("/metrics").text
    assert "leitplanke_access_denied_total 1.0" in text


def test_an_upload_over_the_limit_gets_413_from_the_ingestion_process_and_writes_nothing(
    small_service: Any, result: Any
) -> None:
    body = _v2([result("p", "r", f"web-{index}") for index in range(40)])
    assert len(body) > 2048
    response = _post(small_service, iter([body[i : i + 512] for i in range(0, len(body), 512)]))
    assert _answer(response) == (
        413,
        {
            "type": "about:blank",
            "title": "Payload too large",
            "status": 413,
            "detail": "the request body is larger than 2048 bytes",
            "field": "body",
            "limit": 2048,
        },
    )
    assert _findings(small_service) == []
    assert small_service.client.app.state.ingester.running


def test_when_the_ingestion_process_is_gone_one_upload_gets_500_and_the_next_is_ingested_here(
    service: Any, result: Any
) -> None:
    ingester = service.client.app.state.ingester
    os.kill(ingester._process.pid, signal.SIGKILL)
    ingester._process.join(10)
    body = _v2([result("no-privileged", "containers", "web")])
    failed = _post(service, body)
    assert _answer(failed) == (
        500,
        {
            "type": "about:blank",
            "title": "Internal server error",
            "status": 500,
            "detail": "the service could not complete the request",
        },
    )
    assert not ingester.running
    assert _findings(service) == []
    done = _post(service, body)
    assert (done.status_code, done.json()["transitions"]) == (201, {"none->new": 1})
    assert _findings(service) == [("no-privileged", "containers", "web", "new")]


def test_uploads_sent_at_once_take_turns_in_the_ingestion_process_and_both_are_ingested(
    service: Any, result: Any
) -> None:
    bodies = {
        "prod": _v2([result("no-privileged", "containers", "web")], env="prod"),
        "dev": _v2([result("probes", "liveness", "api")], env="dev"),
    }
    answers: dict[str, Any] = {}

    def upload(env: str) -> None:
        chunks = [bodies[env][i : i + 64] for i in range(0, len(bodies[env]), 64)]
        answers[env] = _answer(_post(service, iter(chunks)))

    threads = [threading.Thread(target=upload, args=(env,)) for env in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {env: (status, body["env"], body["transitions"]) for env, (status, body) in answers.items()} == {
        "prod": (201, "prod", {"none->new": 1}),
        "dev": (201, "dev", {"none->new": 1}),
    }
    assert sorted(body["scan"] for _, body in answers.values()) == [1, 2]
