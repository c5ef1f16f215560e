"""The upload format's ``source`` (header) and ``category`` (result), in-process on SQLite and PostgreSQL:
carried, stored and shown with the findings; an upload without a source is ``ci``; a bad source or an
over-long category is refused with its field named."""

from __future__ import annotations

import json
from typing import Any

import orjson

from leitplanke.governance import uploadrendering


def _header(**fields: Any) -> bytes:
    header = {
        "schemaVersion": "leitplanke.dev/upload/v2",
        "app": "checkout",
        "env": "prod",
        "generatedAt": "",
    }
    return orjson.dumps({**header, "summary": {}, **fields}) + b"\n"


def _line(**changes: Any) -> bytes:
    value = {
        "policy": "drift.deployment",
        "rule": "drifted",
        "verdict": "fail",
        "severity": "medium",
        "message": "Deployment/shop/web differs from Git",
        "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
        **changes,
    }
    return json.dumps(value).encode() + b"\n"


def _post(service: Any, body: bytes) -> Any:
    headers = {"Content-Type": "application/x-ndjson", **service.headers("shop-dev")}
    return service.client.post("/api/v1/scans", content=body, headers=headers)


def _findings(service: Any) -> list[tuple[str, str, str, str]]:
    page = service.client.get("/api/v1/findings", headers=service.headers("admin")).json()
    return sorted((f["policy"], f["status"], f["source"], f["category"]) for f in page["items"])


def test_a_sources_findings_are_fixed_by_its_own_next_upload_only(service: Any) -> None:
    drift = _post(service, _header(source="cluster:prod-eu:drift") + _line(category="drift"))
    assert drift.status_code == 201, drift.text
    policy = _post(
        service, _header() + _line(policy="no-privileged", rule="containers", category="Pod Security")
    )
    assert policy.json()["transitions"] == {"none->new": 1}
    assert _findings(service) == [
        ("drift.deployment", "new", "cluster:prod-eu:drift", "drift"),
        ("no-privileged", "new", "ci", "Pod Security"),
    ]
    assert _post(service, _header(source="ci")).json()["transitions"] == {"new->fixed": 1}
    assert _post(service, _header(source="cluster:prod-eu")).json()["transitions"] == {}
    assert _post(service, _header(source="cluster:prod-eu:drift")).json()["transitions"] == {"new->fixed": 1}


def test_a_bad_source_or_an_over_long_category_is_refused_with_its_field(service: Any) -> None:
    for source in ("CI", "cluster:", "cluster:a b", "x" * 201, 7):
        response = _post(service, _header(source=source) + _line())
        assert (response.status_code, response.json()["field"]) == (422, "source"), source
    long = _post(service, _header() + _line(category="c" * 101))
    assert (long.status_code, long.json()["field"]) == (422, "results[0].category")
    assert _findings(service) == []


def test_the_header_names_its_source_only_when_it_is_not_ci() -> None:
    ci = uploadrendering.render_header(app="a", env="e", generated_at="", summary={})
    drift = uploadrendering.render_header(app="a", env="e", generated_at="", summary={}, source="drift")
    assert (json.loads(ci).get("source"), json.loads(drift)["source"]) == (None, "drift")
