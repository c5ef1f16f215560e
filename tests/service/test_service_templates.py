"""The application services library over HTTP: listing, details, and render with the pre-flight of the
environment's mode, parameter errors with their field paths, and who may render for which team."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from leitplanke import catalog

NAMES = [
    "background-worker",
    "cron-job",
    "kafka-topic",
    "postgres-database",
    "rabbitmq-queue",
    "redis-cache",
    "static-site",
    "web-service",
]


def _render(service: Any, who: str, name: str = "web-service", **body: Any) -> Any:
    payload = {"app": "payments", "team": "team-shop", "environment": "prod", **body}
    return service.client.post(f"/api/v1/templates/{name}/render", json=payload, headers=service.headers(who))


def _documents(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for m in answer["manifests"] for d in yaml.safe_load_all(m["content"]) if d]


def test_every_authenticated_caller_lists_the_templates(service) -> None:
    for who in ("shop-viewer", "data-viewer", "admin"):
        answer = service.client.get("/api/v1/templates", headers=service.headers(who))
        assert answer.status_code == 200
        assert [t["name"] for t in answer.json()] == NAMES
    assert service.client.get("/api/v1/templates").status_code == 401


def test_a_template_shows_its_docs_and_parameter_schema(service) -> None:
    answer = service.client.get("/api/v1/templates/cron-job", headers=service.headers("shop-viewer"))
    assert answer.status_code == 200
    details = answer.json()
    assert (details["name"], details["owner"], details["title"]) == ("cron-job", "platform-team", "Cron job")
    assert details["parameters"]["required"] == ["image", "schedule"]
    assert details["docs"].startswith("## Cron job\n")
    missing = service.client.get("/api/v1/templates/mainframe", headers=service.headers("shop-viewer"))
    assert (missing.status_code, missing.json()["field"]) == (404, "name")


def test_a_developer_renders_for_their_team_with_the_pre_flight_of_prod(service) -> None:
    answer = _render(service, "shop-dev", values={"minReplicas": 3}, valueStream="commerce")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [m["file"] for m in body["manifests"]] == [
        "deployment.yaml",
        "monitoring.yaml",
        "networkpolicies.yaml",
        "scaling.yaml",
        "service.yaml",
    ]
    preflight = body["preflight"]
    assert (preflight["mode"], preflight["outcome"], preflight["allowed"]) == ("enforce", "pass", True)
    assert (preflight["failing"], preflight["warnings"], preflight["problems"]) == ([], [], [])
    assert body["errors"] == []
    assert body["values"]["minReplicas"] == 3 and body["values"]["port"] == 8080
    assert body["catalogEntry"] == {
        "name": "payments",
        "owner": "team-shop",
        "valueStream": "commerce",
        "lifecycle": "production",
        "cloudNative": True,
        "repository": "",
    }
    deployment = next(d for d in _documents(body) if d["kind"] == "Deployment")
    assert deployment["metadata"]["labels"]["env"] == "prod"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/part-of"] == "commerce"
    assert deployment["metadata"]["namespace"] == "payments"


def test_the_render_registers_nothing_in_the_catalog(service) -> None:
    assert _render(service, "shop-dev").status_code == 200
    assert catalog.owner_of(service.database, "payments") is None


def test_dev_is_an_audit_environment_so_its_pre_flight_runs_in_audit_mode(service) -> None:
    answer = _render(service, "shop-dev", name="kafka-topic", environment="dev")
    assert answer.status_code == 200
    assert (answer.json()["preflight"]["mode"], answer.json()["preflight"]["outcome"]) == ("audit", "pass")


@pytest.mark.parametrize(
    ("who", "team"),
    [("shop-viewer", "team-shop"), ("data-viewer", "team-shop"), ("shop-dev", "team-data")],
)
def test_only_a_developer_of_the_team_may_render_for_it(service, who: str, team: str) -> None:
    answer = _render(service, who, team=team)
    assert answer.status_code == 403


def test_invalid_parameters_answer_422_with_every_field_path(service) -> None:
    answer = _render(service, "shop-dev", values={"port": 80, "exposure": "nodeport", "extra": 1})
    assert answer.status_code == 422
    problem = answer.json()
    assert (problem["title"], problem["field"], problem["detail"]) == (
        "Invalid parameters",
        "$.exposure",
        "3 invalid parameter(s)",
    )
    assert problem["errors"] == [
        {
            "field": "$.exposure",
            "message": "must be one of 'ingress', 'httproute', 'none'",
            "type": "parameter-enum",
        },
        {
            "field": "$.extra",
            "message": "unknown parameter 'extra'",
            "type": "parameter-additionalProperties",
        },
        {"field": "$.port", "message": "must satisfy minimum 1024", "type": "parameter-minimum"},
    ]


def test_an_app_name_that_is_no_dns_label_is_refused_with_its_field(service) -> None:
    answer = _render(service, "shop-dev", app="Payments.v2")
    assert (answer.status_code, answer.json()["field"]) == (422, "app")
    assert answer.json()["errors"][0]["type"] == "target-name"


def test_the_environment_must_be_in_the_catalog_and_the_app_not_another_teams(service) -> None:
    unknown = _render(service, "shop-dev", environment="staging")
    assert (unknown.status_code, unknown.json()["field"]) == (422, "environment")
    taken = _render(service, "admin", app="warehouse")
    assert (taken.status_code, taken.json()["field"]) == (409, "app")


def test_a_hostile_value_comes_back_as_one_string_in_the_manifests(service) -> None:
    hostile = 'x\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n" <script>'
    answer = _render(service, "shop-dev", name="cron-job", values={"args": [hostile]})
    assert answer.status_code == 200
    documents = _documents(answer.json())
    assert sorted(d["kind"] for d in documents) == [
        "CronJob",
        "NetworkPolicy",
        "NetworkPolicy",
        "PrometheusRule",
        "ServiceAccount",
    ]
    cronjob = next(d for d in documents if d["kind"] == "CronJob")
    assert cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] == [hostile]


def test_values_that_are_not_an_object_are_refused_before_rendering(service) -> None:
    answer = _render(service, "shop-dev", values=["image"])
    assert (answer.status_code, answer.json()["field"]) == (422, "values")
