"""Scan uploads in-process, on SQLite and PostgreSQL: the compact v2 format (gzipped, streamed) and the old
JSON report become the same findings; anonymous bodies are refused unread; size limits hold on the wire and
decompressed; strings and names are checked at the edge with the field at fault; any other error is a
problem+json 500 without internals."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from leitplanke.cli import uploading
from leitplanke.core.results import ScanReport
from leitplanke.reports import jsonreports
from leitplanke.service import create_app
from leitplanke.settings import Settings
from leitplanke.store import databases, repositories

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
NDJSON = "application/x-ndjson"


def _report(results: list[Any]) -> ScanReport:
    return ScanReport(results=list(results), documents=len(results)).finish()


def _v2(results: list[Any], *, app: str = "checkout", env: str = "prod") -> bytes:
    return b"".join(uploading.render_upload(_report(results), app=app, env=env, now=NOW))


def _v1(results: list[Any], *, app: str = "checkout", env: str = "prod") -> bytes:
    out = io.StringIO()
    jsonreports.write(_report(results), out, now=NOW)
    return json.dumps({"app": app, "env": env, "scan": json.loads(out.getvalue())}).encode()


def _post(
    service: Any, body: Any, *, who: str | None = "shop-dev", media: str = NDJSON, **headers: str
) -> Any:
    sent = {"Content-Type": media, **headers}
    if who is not None:
        sent.update(service.headers(who))
    return service.client.post("/api/v1/scans", content=body, headers=sent)


def _header_line(**fields: Any) -> bytes:
    header = {
        "schemaVersion": "leitplanke.dev/upload/v2",
        "app": "checkout",
        "env": "prod",
        "generatedAt": "",
    }
    return orjson.dumps({**header, "summary": {}, **fields}) + b"\n"


def _line(**changes: Any) -> bytes:
    value = {
        "policy": "no-privileged",
        "rule": "containers",
        "verdict": "fail",
        "severity": "high",
        "message": "container web is privileged",
        "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
        "location": {"path": "spec.template.spec.containers[0]"},
    }
    value.update(changes)
    return json.dumps(value).encode() + b"\n"


def _findings(service: Any) -> list[tuple[str, str, str, str, str, str]]:
    page = service.client.get("/api/v1/findings", headers=service.headers("admin")).json()
    return sorted(
        (f["policy"], f["rule"], f["resource"]["namespace"], f["resource"]["name"], f["status"], f["message"])
        for f in page["items"]
    )


def test_a_gzipped_compact_upload_and_the_old_json_report_give_the_same_findings(
    service: Any, result: Any
) -> None:
    results = [
        result("no-privileged", "containers", "web", severity="critical"),
        result("probes", "liveness", "web", verdict="pass"),
        result("probes", "readiness", "api", verdict="warn"),
        result("run-as-non-root", "containers", "api", severity="medium"),
    ]
    body = b"".join(
        uploading.gzipped(uploading.render_upload(_report(results), app="checkout", env="prod", now=NOW))
    )
    response = _post(service, iter([body[:100], body[100:]]), **{"Content-Encoding": "gzip"})
    assert response.status_code == 201, response.text
    assert response.json() == {
        "scan": 1,
        "app": "checkout",
        "env": "prod",
        "findings": 2,
        "transitions": {"none->new": 2},
        "unrecognisedWaivers": [],
    }
    expected = [
        ("no-privileged", "containers", "shop", "web", "new", "no-privileged/containers on web"),
        ("run-as-non-root", "containers", "shop", "api", "new", "run-as-non-root/containers on api"),
    ]
    assert _findings(service) == expected

    again = _post(service, _v1(results), media="application/json")
    assert again.status_code == 201, again.text
    assert again.json()["transitions"] == {"new->open": 2}
    assert [item[:4] for item in _findings(service)] == [item[:4] for item in expected]


def test_the_compact_format_written_by_the_cli_is_a_header_results_and_pass_counts(result: Any) -> None:
    lines = _v2([result("p", "r", "web"), result("q", "s", "web", verdict="pass")]).splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "schemaVersion": "leitplanke.dev/upload/v2",
            "app": "checkout",
            "env": "prod",
            "generatedAt": "2026-02-01T12:00:00Z",
            "summary": {
                "resources": 2,
                "checks": 2,
                "verdicts": {"pass": 1, "fail": 1, "warn": 0, "error": 0, "skip": 0},
                "failuresBySeverity": {"critical": 0, "high": 1, "medium": 0, "low": 0, "info": 0},
                "waived": 0,
                "problems": 0,
                "skippedInputs": 0,
            },
        },
        {
            "policy": "p",
            "rule": "r",
            "verdict": "fail",
            "severity": "high",
            "message": "p/r on web",
            "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
            "location": {"path": "spec.template.spec.containers[0]"},
        },
        {
            "passes": 1,
            "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
        },
    ]


def test_the_cli_shortens_long_messages_and_replaces_nul_bytes_so_that_the_service_takes_them(
    service: Any, result: Any
) -> None:
    long = result("p", "r", "web")
    long.message = "\x00" + "m" * 5000
    line = json.loads(_v2([long]).splitlines()[1])
    assert line["message"] == "\ufffd" + "m" * 4094 + "…"
    assert _post(service, _v2([long])).status_code == 201


def test_bodies_of_anonymous_callers_are_refused_before_they_are_parsed(service: Any) -> None:
    broken = b'{"app": "checkout", "env": '
    for path in ("/api/v1/scans", "/api/v1/teams", "/api/v1/waivers", "/api/v1/apps"):
        for headers in ({}, {"Authorization": "Bearer lp_not-a-token"}):
            response = service.client.post(
                path, content=broken, headers={"Content-Type": "application/json", **headers}
            )
            assert (response.status_code, response.json()["title"]) == (401, "A valid API token is required")
            assert response.headers["www-authenticate"] == "Bearer"


def test_a_caller_of_another_team_naming_the_app_is_refused_before_the_body_is_read(service: Any) -> None:
    response = service.client.post(
        "/api/v1/scans?app=checkout&env=prod",
        content=b"not json at all",
        headers={"Content-Type": NDJSON, **service.headers("data-viewer")},
    )
    assert (response.status_code, response.json()["title"]) == (403, "Forbidden")


def test_the_app_named_in_the_query_must_be_the_one_in_the_body(service: Any, result: Any) -> None:
    response = service.client.post(
        "/api/v1/scans?app=checkout&env=dev",
        content=_v2([result("p", "r", "web")]),
        headers={"Content-Type": NDJSON, **service.headers("shop-dev")},
    )
    assert (response.status_code, response.json()["field"]) == (422, "env")


def test_a_chunked_body_over_the_limit_gets_413(small_service: Any) -> None:
    chunks = iter([b"x" * 1024] * 4)
    for media in ("application/json", NDJSON):
        response = _post(small_service, iter(list(chunks) or [b"y" * 1024] * 4), media=media)
        assert response.status_code == 413, response.text
        assert response.json() == {
            "type": "about:blank",
            "title": "Payload too large",
            "status": 413,
            "detail": "the request body is larger than 2048 bytes",
            "field": "body",
            "limit": 2048,
        }
    team = small_service.client.post(
        "/api/v1/teams", content=iter([b" " * 1024] * 4), headers=small_service.headers("admin")
    )
    assert team.status_code == 413


def test_a_gzip_bomb_is_refused_once_its_decompressed_size_passes_the_limit(small_service: Any) -> None:
    bomb = gzip.compress(_header_line() + b" " * 1_000_000)
    assert len(bomb) < 2048
    response = _post(small_service, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["detail"] == "the decompressed request body is larger than 2048 bytes"


def test_a_body_that_is_not_gzip_or_json_gets_400_and_other_media_415(service: Any) -> None:
    response = _post(service, b"plain", **{"Content-Encoding": "gzip"})
    assert (response.status_code, response.json()["title"]) == (400, "Malformed JSON")
    assert response.json()["detail"].startswith("the body is not valid gzip")
    assert _post(service, _header_line() + b"{nope\n").json()["errors"][0]["field"] == "results[0]"
    assert _post(service, b"<xml/>", media="application/xml").status_code == 415
    assert _post(service, b"", **{"Content-Encoding": "br"}).status_code == 415


def _in(fmt: str, lines: list[bytes], **header: Any) -> tuple[bytes, str, str]:
    """``lines`` (result lines) as a v2 body or as an old JSON report: (body, media type, field prefix)."""
    if fmt == "v2":
        return _header_line(**header) + b"".join(lines), NDJSON, ""
    summary = orjson.dumps(header.get("summary", {}))
    results = b",".join(line.strip() for line in lines)
    scan = b'{"schemaVersion": "leitplanke.dev/scan/v1", "summary": %s, "results": [%s]}' % (summary, results)
    return b'{"app": "checkout", "env": "prod", "scan": %s}' % scan, "application/json", "scan."


UNSAFE = "must not contain NUL characters or unpaired surrogates"


@pytest.mark.parametrize("fmt", ["v2", "v1"])
def test_nul_bytes_and_unpaired_surrogates_are_refused_with_their_field_on_both_databases(
    service: Any, fmt: str
) -> None:
    lines = [
        _line(),
        _line(message="a\u0000b"),
        _line(message="X").replace(b'"X"', b'"\\ud83d alone"'),
        _line(resource={"apiVersion": "v1", "kind": "Pod", "name": "Y"}).replace(b'"Y"', b'"a\\udc00b"'),
        _line(resource={"apiVersion": "v1", "kind": "Pod", "namespace": "shop\u0000", "name": "web"}),
    ]
    body, media, prefix = _in(fmt, lines)
    response = _post(service, body, media=media)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": f"{prefix}results[1].message", "message": UNSAFE},
        {"field": f"{prefix}results[2].message", "message": UNSAFE},
        {"field": f"{prefix}results[3].resource.name", "message": UNSAFE},
        {"field": f"{prefix}results[4].resource.namespace", "message": UNSAFE},
    ]
    assert response.json()["field"] == f"{prefix}results[1].message"
    body, media, prefix = _in(fmt, [_line()], summary={"note": "\u0000"})
    summary = _post(service, body, media=media)
    assert (summary.status_code, summary.json()["field"]) == (422, f"{prefix}summary.note")
    with service.database.reading() as session:
        assert repositories.count_findings(session) == 0


@pytest.mark.parametrize("fmt", ["v2", "v1"])
def test_messages_and_summaries_have_a_size_cap(service: Any, fmt: str) -> None:
    body, media, prefix = _in(fmt, [_line(message="m" * 4097)])
    long = _post(service, body, media=media)
    assert long.json()["errors"] == [
        {"field": f"{prefix}results[0].message", "message": "must be at most 4096 characters long"}
    ]
    body, media, prefix = _in(fmt, [_line()], summary={"s": "x" * 20000})
    big = _post(service, body, media=media)
    assert (big.status_code, big.json()["field"]) == (422, f"{prefix}summary")
    body, media, prefix = _in(fmt, [_line(message="m" * 4096)])
    assert _post(service, body, media=media).status_code == 201


@pytest.mark.parametrize("fmt", ["v2", "v1"])
def test_names_that_are_no_kubernetes_or_policy_names_are_refused(service: Any, fmt: str) -> None:
    lines = [
        _line(policy="<!channel>"),
        _line(rule="r|x"),
        _line(resource={"apiVersion": "v1", "kind": "Pod", "namespace": "Shop Floor", "name": "web"}),
        _line(resource={"apiVersion": "v1", "kind": "Pod", "name": "<http://evil.example|click>"}),
        _line(resource={"apiVersion": "v1", "kind": "Pod<b>", "name": "web"}),
    ]
    body, media, prefix = _in(fmt, lines)
    response = _post(service, body, media=media)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [
        f"{prefix}results[0].policy",
        f"{prefix}results[1].rule",
        f"{prefix}results[2].resource.namespace",
        f"{prefix}results[3].resource.name",
        f"{prefix}results[4].resource.kind",
    ]


def test_names_that_real_scans_produce_upload(service: Any) -> None:
    body = (
        _header_line()
        + _line(
            resource={
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "name": "system:aggregated-metrics-reader",
            }
        )
        + _line(
            resource={
                "apiVersion": "v1",
                "kind": "Cluster",
                "namespace": "${NAMESPACE}",
                "name": "${CLUSTER_NAME}-md-0",
            }
        )
        + _line(
            rule="validate-readOnlyRootFilesystem",
            resource={"apiVersion": "v1", "kind": "Pod", "name": "vttablet-{{uid}}"},
        )
        + _line(policy="k8srequiredlabels", rule="K8sRequiredLabels")
        + _line(
            resource={
                "apiVersion": "config.leitplanke.dev/v1",
                "kind": "NginxServer",
                "name": "*.example.com:443#2",
                "domain": "nginx",
            }
        )
        + _line(
            resource={
                "apiVersion": "config.leitplanke.dev/v1",
                "kind": "SshdConfig",
                "name": "sshd_config",
                "domain": "sshd",
            }
        )
    )
    response = _post(service, body)
    assert (response.status_code, response.json()["findings"]) == (201, 6), response.text


def test_issues_stop_at_twenty_and_the_first_names_the_field(service: Any) -> None:
    body = _header_line() + b'{"policy": "p"}\n' * 5000
    response = _post(service, body)
    assert response.status_code == 422
    problem = response.json()
    assert len(problem["errors"]) == 20
    assert problem["errors"][:3] == [
        {"field": "results[0].rule", "message": "must be a string"},
        {"field": "results[0].verdict", "message": "must be one of pass, fail, warn, error, skip"},
        {"field": "results[0].severity", "message": "must be one of critical, high, medium, low, info"},
    ]
    assert (problem["field"], problem["detail"]) == ("results[0].rule", "results[0].rule: must be a string")


def test_a_header_that_is_not_a_v2_header_is_refused(service: Any) -> None:
    response = _post(service, _header_line(schemaVersion="leitplanke.dev/scan/v1") + _line())
    assert (response.status_code, response.json()["field"]) == (422, "schemaVersion")
    assert _post(service, b"").json()["title"] == "Malformed JSON"
    long = _post(service, b'{"app": "' + b"a" * 70000 + b'"}\n' + _header_line() + _line())
    assert long.json()["errors"] == [{"field": "header", "message": "the line is longer than 65536 bytes"}]


def _gone_app() -> Iterator[TestClient]:
    gone = databases.Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(Settings(database_url=gone.url, migrate_on_start=False), database=gone)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_unforeseen_error_is_a_problem_500_without_internals() -> None:
    for client in _gone_app():
        headers = {"Authorization": "Bearer lp_0123456789abcdef", "Content-Type": NDJSON}
        for response in (
            client.get("/api/v1/findings", headers=headers),
            client.post("/api/v1/scans", content=_header_line(), headers=headers),
        ):
            assert response.status_code == 500
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json() == {
                "type": "about:blank",
                "title": "Internal server error",
                "status": 500,
                "detail": "the service could not complete the request",
            }
