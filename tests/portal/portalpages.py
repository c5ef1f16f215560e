"""What the portal tests share: users, hostile values, signing in through the form, storing findings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.governance import findings

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
T_SCAN = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
XSS = "<img src=x onerror=alert(1)>"
XSS_APP = 'x"><svg onload=alert(1)>'
# login -> (role, team)
USERS = {
    "shop-dev": ("developer", "team-shop"),
    "shop-approver": ("approver", "team-shop"),
    "shop-viewer": ("viewer", "team-shop"),
    "data-dev": ("developer", "team-data"),
    "admin": ("platform-admin", None),
}
SLA = {"critical": 15, "high": 30, "medium": 90, "low": 180}


@dataclass
class Portal:
    client: TestClient
    database: Any
    token: str  # an API token of shop-dev's team: developer of team-shop

    def fresh(self) -> TestClient:
        """Another browser: a client without cookies on the same application."""
        return TestClient(self.client.app, base_url="https://testserver")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the page has no form token"
    return found.group(1)


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> Any:
    form = client.get("/portal/sign-in")
    return client.post(
        "/portal/sign-in",
        data={"csrf": csrf_of(form.text), "login": login, "password": password, "next": "/portal/"},
        follow_redirects=False,
    )


def failure(
    policy: str,
    rule: str,
    name: str,
    *,
    severity: str = "high",
    namespace: str = "shop",
    path: str = "spec.template.spec.containers[0]",
    message: str = "",
) -> Any:
    """A failing result of a Deployment."""
    return Result(
        policy=policy,
        rule=rule,
        resource=Resource("apps/v1", "Deployment", namespace, name),
        verdict=Verdict("fail"),
        severity=Severity.parse(severity),
        message=message or f"{policy}/{rule} on {name}",
        location=Location(file=f"{name}.yaml", line=1, path=path),
    )


def shop_results() -> list[Any]:
    return [
        failure(
            "disallow-privileged",
            "no-privileged",
            "api",
            severity="critical",
            message=f"container {XSS} is privileged",
        ),
        failure(
            "require-probes",
            "liveness",
            "api",
            severity="medium",
            path="spec.template.spec.containers[0].livenessProbe",
        ),
        failure("require-probes", "liveness", XSS, severity="low"),
    ]


def many_results(count: int) -> list[Any]:
    """``count`` low findings on deployments web-00, web-01, …"""
    return [failure("require-requests", "cpu", f"web-{n:02d}", severity="low") for n in range(count)]


def ingest(database: Any, app: str, results: list[Any], *, when: datetime = T_SCAN) -> None:
    findings.ingest_scan(
        database,
        app=app,
        env="prod",
        results=results,
        summary={},
        generated_at="",
        actor="test",
        now=when,
        sla_days=SLA,
    )


def request_waiver(client: TestClient, **fields: str) -> Any:
    """Post the waiver request form (with its token) of checkout's Deployment shop/api in prod, with
    ``fields`` changed; the answer is not followed."""
    form = client.get("/portal/waivers/new")
    data = {
        "csrf": csrf_of(form.text),
        "app": "checkout",
        "env": "prod",
        "policy": "require-probes",
        "rule": "",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "api",
        "justification": "needed",
        "expires": "2026-02-20",
        **fields,
    }
    return client.post("/portal/waivers", data=data, follow_redirects=False)
