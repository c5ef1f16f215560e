"""The insights API (/api/v1/insights) in-process over the generated history: the scorecard of the
organisation (platform scope) and of a team (its viewers), trends of an app, the comparison; refusals
with the field named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import historydata
import pytest
from fastapi.testclient import TestClient

from leitplanke.governance import access
from leitplanke.service import create_app
from leitplanke.settings import Settings

NOW = historydata.T + timedelta(days=21)


@pytest.fixture
def api(catalog_database: Any, result: Any) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    historydata.ingest_history(catalog_database, result)
    headers = {}
    for who, role, team in (("admin", "platform-admin", None), ("data-viewer", "viewer", "team-data")):
        created = access.create_token(
            catalog_database, subject=f"user:{who}", name=who, role=role, team=team, actor="test", now=NOW
        )
        headers[who] = {"Authorization": f"Bearer {created.token}"}
    app = create_app(
        Settings(database_url=catalog_database.url), database=catalog_database, clock=lambda: NOW
    )
    with TestClient(app) as client:
        yield client, headers


def test_the_org_scorecard_has_a_card_per_team(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    answer = client.get("/api/v1/insights/scorecard?scope=org&period=14d", headers=headers["admin"])
    assert answer.status_code == 200
    body = answer.json()
    assert (body["scope"], [t["scope"] for t in body["teams"]]) == (
        "org",
        ["team:team-data", "team:team-shop"],
    )
    assert body["kpis"][1] == {
        "kpi": "sla-adherence",
        "title": "Findings within their remediation SLA",
        "op": ">=",
        "target": 0.95,
        "unit": "ratio",
        "value": 0.8333,
        "met": False,
        "previous": 1.0,
        "trend": "worse",
        "missing": ["checkout"],
        "note": "",
    }


def test_a_team_viewer_reads_its_team_but_not_the_org(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    mine = client.get(
        "/api/v1/insights/scorecard?scope=team:team-data&period=14d", headers=headers["data-viewer"]
    )
    assert (mine.status_code, mine.json()["scope"], "teams" in mine.json()) == (200, "team:team-data", False)
    assert (
        client.get("/api/v1/insights/scorecard?scope=org", headers=headers["data-viewer"]).status_code == 403
    )
    other = client.get("/api/v1/insights/trends?scope=app:checkout", headers=headers["data-viewer"])
    assert other.status_code == 403


def test_the_trends_of_an_app_name_its_recurring_violation(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    body = client.get(
        "/api/v1/insights/trends?scope=app:warehouse&period=21d", headers=headers["admin"]
    ).json()
    assert body["recurring"] == [{"policy": "require-probes", "apps": ["warehouse"], "reopenings": 1}]


def test_the_comparison_puts_the_classes_side_by_side(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    body = client.get("/api/v1/insights/comparison?period=14d&basis=derived", headers=headers["admin"]).json()
    assert body["apps"] == {"cloud-native": ["checkout"], "not-cloud-native": ["warehouse"]}
    assert body["measures"][0] == {
        "measure": "open-findings-per-app",
        "cloud-native": 0.0,
        "not-cloud-native": 2.0,
    }


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("scope=everything", 422, "scope"),
        ("scope=team:nobody", 404, "scope"),
        ("period=30x", 422, "period"),
    ],
)
def test_bad_scopes_and_periods_are_refused_with_the_field(
    api: tuple[TestClient, dict[str, dict[str, str]]], query: str, status: int, field: str
) -> None:
    client, headers = api
    answer = client.get(f"/api/v1/insights/scorecard?{query}", headers=headers["admin"])
    assert (answer.status_code, answer.json().get("field")) == (status, field)


def test_no_token_no_insights(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, _ = api
    assert client.get("/api/v1/insights/scorecard").status_code == 401


def test_the_cached_scorecard_follows_a_new_ingestion(
    api: tuple[TestClient, dict[str, dict[str, str]]], catalog_database: Any
) -> None:
    from leitplanke.governance import findings
    from leitplanke.settings import DEFAULT_SLA_DAYS

    client, headers = api
    url = "/api/v1/insights/scorecard?scope=team:team-data&period=14d"
    before = client.get(url, headers=headers["admin"]).json()["kpis"][2]
    # warehouse's two open findings fixed by a clean scan: nothing fails, so no waiver ratio
    findings.ingest_scan(
        catalog_database,
        app="warehouse",
        env="prod",
        results=[],
        summary={},
        generated_at="",
        actor="token:ci",
        now=NOW,
        sla_days=DEFAULT_SLA_DAYS,
    )
    after = client.get(url, headers=headers["admin"]).json()["kpis"][2]
    assert [(k["kpi"], k["value"]) for k in (before, after)] == [
        ("waiver-ratio", 0.0),
        ("waiver-ratio", None),
    ]


def test_the_first_scorecard_after_start_answers_from_the_history_warmed_in_the_background(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    cache = client.app.state.insights_history  # type: ignore[attr-defined]
    assert cache.warmed.wait(timeout=60)
    computed = cache.computed
    answer = client.get("/api/v1/insights/scorecard?scope=org&period=30d", headers=headers["admin"])
    assert answer.status_code == 200
    assert cache.computed == computed  # nothing replayed or measured for the request
    assert [line["kpi"] for line in answer.json()["kpis"]][:3] == [
        "critical-open-over-7d",
        "sla-adherence",
        "waiver-ratio",
    ]


def test_with_prometheus_configured_the_scorecard_measures_each_apps_cost_efficiency(
    catalog_database: Any, result: Any
) -> None:
    from leitplanke.insights import costmeasures, prometheus

    historydata.ingest_history(catalog_database, result)
    token = access.create_token(
        catalog_database,
        subject="user:admin",
        name="admin",
        role="platform-admin",
        team=None,
        actor="t",
        now=NOW,
    ).token
    settings = Settings(database_url=catalog_database.url, prometheus_url="demo:")
    app = create_app(settings, database=catalog_database, clock=lambda: NOW)
    expected = costmeasures.efficiency(
        "demo:",
        credentials=prometheus.Credentials(),
        apps=frozenset({"checkout", "warehouse"}),
        now=NOW,
        period=timedelta(days=30),
    )
    assert expected is not None and sorted(expected) == ["checkout"]  # the demo has no warehouse namespace
    usage, request = expected["checkout"]
    with TestClient(app) as client:
        answer = client.get(
            "/api/v1/insights/scorecard?scope=org&period=30d", headers={"Authorization": f"Bearer {token}"}
        )
    line = next(k for k in answer.json()["kpis"] if k["kpi"] == "cost-efficiency")
    assert (line["value"], line["met"], line["missing"], line["note"]) == (
        round(usage / request, 4),
        True,
        [],
        "",
    )


def test_the_first_scorecard_call_of_an_instance_builds_no_route(
    api: tuple[TestClient, dict[str, dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI builds an included router's routes on the first request matched against them (200 to
    500 ms for the scorecard, behind most routers); the service builds them all at start instead."""
    import fastapi.routing

    if not hasattr(fastapi.routing, "_populate_api_route_state"):
        pytest.skip(
            "this FastAPI builds its routes when they are included: nothing is left to the first call"
        )
    built: list[str] = []
    populate = fastapi.routing._populate_api_route_state

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append("route")
        return populate(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "_populate_api_route_state", counting)
    client, headers = api
    answer = client.get("/api/v1/insights/scorecard?scope=org&period=30d", headers=headers["admin"])
    assert (answer.status_code, built) == (200, [])
