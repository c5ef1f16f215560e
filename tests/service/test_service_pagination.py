"""Keyset pagination of /findings and /audit: following ``next`` visits every row exactly once in id
order, with filters and team restrictions, on SQLite and PostgreSQL; bad cursors are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leitplanke.governance import findings

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
SEVERITIES = ("critical", "high", "medium", "low")


def _ingest(database: Any, result: Any, *, app: str, env: str, count: int) -> None:
    findings.ingest_scan(
        database,
        app=app,
        env=env,
        results=[
            result("no-privileged", f"rule-{i % 3}", f"{app}-{i}", severity=SEVERITIES[i % 4])
            for i in range(count)
        ],
        summary={},
        generated_at="",
        actor="token:ci",
        now=NOW,
        sla_days={"critical": 15, "high": 30, "medium": 90, "low": 180},
    )


def _seed(service: Any, result: Any) -> None:
    _ingest(service.database, result, app="checkout", env="prod", count=23)
    _ingest(service.database, result, app="warehouse", env="prod", count=17)
    _ingest(service.database, result, app="checkout", env="dev", count=11)


def _walk(service: Any, who: str, path: str, **params: Any) -> list[Any]:
    """Every page by cursor: the items' (id or seq) in the order served."""
    seen, cursor, pages = [], None, 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = service.client.get(path, params=query, headers=service.headers(who))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params["limit"]
        seen += [item.get("id", item.get("seq")) for item in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            return seen
        assert pages < 100


def _all(service: Any, who: str, path: str, **params: Any) -> list[Any]:
    response = service.client.get(path, params={**params, "limit": 1000}, headers=service.headers(who))
    page = response.json()
    assert page["next"] is None
    return [item.get("id", item.get("seq")) for item in page["items"]]


def test_walking_every_page_by_cursor_returns_every_finding_once_in_id_order(
    service: Any, result: Any
) -> None:
    _seed(service, result)
    everything = _all(service, "admin", "/api/v1/findings")
    assert len(everything) == 51
    assert everything == sorted(everything)
    assert _walk(service, "admin", "/api/v1/findings", limit=7) == everything
    assert _walk(service, "admin", "/api/v1/findings", limit=51) == everything  # an exact last page
    assert _walk(service, "admin", "/api/v1/findings", limit=1000) == everything


def test_a_cursor_walk_keeps_the_filters_and_the_callers_team(service: Any, result: Any) -> None:
    _seed(service, result)
    for who, params in (
        ("admin", {"severity": "high"}),
        ("admin", {"env": "prod", "app": "warehouse"}),
        ("shop-viewer", {}),  # team-shop sees checkout only, in both environments
        ("shop-viewer", {"env": "dev", "severity": "critical"}),
    ):
        expected = _all(service, who, "/api/v1/findings", **params)
        assert expected, (who, params)
        assert _walk(service, who, "/api/v1/findings", limit=4, **params) == expected, (who, params)
    shop = _all(service, "shop-viewer", "/api/v1/findings")
    page = service.client.get(
        "/api/v1/findings", params={"limit": 100}, headers=service.headers("shop-viewer")
    ).json()
    assert (len(shop), {item["app"] for item in page["items"]}) == (34, {"checkout"})


def test_a_cursor_page_equals_the_offset_page_at_the_same_place(service: Any, result: Any) -> None:
    _seed(service, result)
    first = service.client.get(
        "/api/v1/findings", params={"limit": 10}, headers=service.headers("admin")
    ).json()
    by_cursor = service.client.get(
        "/api/v1/findings", params={"limit": 10, "cursor": first["next"]}, headers=service.headers("admin")
    ).json()
    by_offset = service.client.get(
        "/api/v1/findings", params={"limit": 10, "offset": 10}, headers=service.headers("admin")
    ).json()
    assert by_cursor["items"] == by_offset["items"]
    assert (by_cursor["total"], by_cursor["offset"], by_cursor["next"]) == (51, 0, by_offset["next"])


def test_walking_the_audit_log_by_cursor_returns_every_record_once_in_order(
    service: Any, result: Any
) -> None:
    _seed(service, result)
    everything = _all(service, "admin", "/api/v1/audit")
    assert everything == list(range(1, len(everything) + 1))
    assert _walk(service, "admin", "/api/v1/audit", limit=9) == everything


def test_a_cursor_that_is_not_one_of_this_list_is_refused_with_422(service: Any, result: Any) -> None:
    _seed(service, result)
    findings_page = service.client.get(
        "/api/v1/findings", params={"limit": 5}, headers=service.headers("admin")
    ).json()
    for path, params, field in (
        ("/api/v1/findings", {"cursor": "not base64 at all!"}, "cursor"),
        ("/api/v1/findings", {"cursor": "ZmluZGluZzotMQ"}, "cursor"),  # finding:-1
        ("/api/v1/audit", {"cursor": findings_page["next"]}, "cursor"),  # a cursor of another list
        ("/api/v1/findings", {"cursor": findings_page["next"], "offset": 5}, "offset"),
    ):
        response = service.client.get(path, params=params, headers=service.headers("admin"))
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field
