"""The waiver API in-process on both databases: request → approve → finding waived → expiry → finding
reopened (with a clock the test moves), self-approval refused and audited, the expiry cap as
problem+json, figures, and the pulled native file and Kyverno PolicyException export."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leitplanke import engine
from leitplanke.cli import waivers as waivers_cli
from leitplanke.core.results import ScanReport, Verdict
from leitplanke.engine import loading
from leitplanke.governance import access, waiverexpiring
from leitplanke.reports import jsonreports
from leitplanke.service import create_app
from leitplanke.settings import Settings

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    client: TestClient
    database: Any
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    def upload(self, results: list[Any]) -> Any:
        out = io.StringIO()
        jsonreports.write(ScanReport(results=list(results), documents=len(results)).finish(), out, now=T0)
        body = {"app": "checkout", "env": "prod", "scan": json.loads(out.getvalue())}
        return self.call("POST", "/scans", "dev", json=body)

    def statuses(self) -> list[tuple[str, str, str, str]]:
        items = self.call("GET", "/findings", "admin").json()["items"]
        return [(f["resource"]["name"], f["status"], f["waiver"], f["slaDue"]) for f in items]


@pytest.fixture
def api(catalog_database: Any) -> Iterator[Api]:
    clock = Clock()
    app = create_app(Settings(database_url=catalog_database.url), database=catalog_database, clock=clock)
    with TestClient(app) as client:
        api = Api(client=client, database=catalog_database, clock=clock)
        for who, role, team in (
            ("admin", "platform-admin", None),
            ("dev", "developer", "team-shop"),
            ("lead", "approver", "team-shop"),
            ("data-lead", "approver", "team-data"),
        ):
            api.tokens[who] = access.create_token(
                catalog_database, subject=f"user:{who}", name=who, role=role, team=team, actor="test", now=T0
            ).token
        yield api


REQUEST = {
    "app": "checkout",
    "env": "prod",
    "policies": ["no-privileged"],
    "rules": ["containers"],
    "resources": [{"kind": "Deployment", "namespace": "shop", "name": "web"}],
    "justification": "vendor image needs it until 2.0",
    "expires": "2026-02-11T12:00:00Z",
}


def _audit_actions(api: Api) -> list[tuple[str, str, str]]:
    items = api.call("GET", "/audit", "admin", params={"limit": 1000}).json()["items"]
    return [(r["actor"], r["action"], r["target"]) for r in items]


def test_request_approve_waive_expire_and_reopen_through_the_api(api: Api, result: Any) -> None:
    failing = [result("no-privileged", "containers", "web"), result("no-privileged", "containers", "api")]
    assert api.upload(failing).status_code == 201
    requested = api.call("POST", "/waivers", "dev", json=REQUEST)
    assert requested.status_code == 201, requested.text
    body = requested.json()
    assert {
        k: body[k] for k in ("id", "name", "status", "requester", "requestedAt", "expires", "renews")
    } == {
        "id": 1,
        "name": "waiver-1",
        "status": "requested",
        "requester": "user:dev via token:dev",
        "requestedAt": "2026-02-01T12:00:00Z",
        "expires": "2026-02-11T12:00:00Z",
        "renews": None,
    }
    # another team's approver may not decide it
    assert api.call("POST", "/waivers/1/approve", "data-lead", json={}).status_code == 403

    api.clock.now = T0 + timedelta(days=1)
    approved = api.call("POST", "/waivers/1/approve", "lead", json={"note": "until 2.0"})
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decidedBy"]) == (
        "approved",
        "user:lead via token:lead",
    )
    assert api.statuses() == [
        ("api", "new", "", "2026-03-03T12:00:00Z"),
        ("web", "waived", "waiver-1", "2026-03-03T12:00:00Z"),
    ]

    # the next upload after the expiry expires the waiver first: the finding is reopened, then open,
    # and its due date has moved by the 11 days it was waived (day 1 to day 12)
    api.clock.now = T0 + timedelta(days=12)
    assert api.upload(failing).json()["transitions"] == {"new->open": 1, "reopened->open": 1}
    assert api.call("GET", "/waivers/1", "dev").json()["status"] == "expired"
    assert api.statuses() == [
        ("api", "open", "", "2026-03-03T12:00:00Z"),
        ("web", "open", "", "2026-03-14T12:00:00Z"),
    ]
    assert [a for a in _audit_actions(api) if a[1].startswith("waiver.")] == [
        ("user:dev via token:dev", "waiver.requested", "waiver:1"),
        ("user:lead via token:lead", "waiver.approved", "waiver:1"),
        ("system", "waiver.expired", "waiver:1"),
    ]


def test_the_periodic_task_expires_waivers_without_an_upload(api: Api, result: Any) -> None:
    api.upload([result("no-privileged", "containers", "web")])
    api.call("POST", "/waivers", "dev", json=REQUEST)
    api.call("POST", "/waivers/1/approve", "lead", json={})
    api.clock.now = T0 + timedelta(days=10)
    assert waiverexpiring.expire_waivers(api.database, now=api.clock()) == [1]  # what the task runs
    assert api.statuses() == [("web", "reopened", "", "2026-03-13T12:00:00Z")]


def test_self_approval_is_refused_with_403_and_audited(api: Api) -> None:
    assert api.call("POST", "/waivers", "lead", json=REQUEST).status_code == 201
    refused = api.call("POST", "/waivers/1/approve", "lead", json={})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "user:lead requested waiver 1 and cannot approve it",
    }
    assert _audit_actions(api)[-1] == ("user:lead via token:lead", "access.denied", "waiver:1")
    assert api.call("GET", "/waivers/1", "lead").json()["status"] == "requested"


def test_an_expiry_beyond_the_cap_is_refused_naming_expires(api: Api) -> None:
    refused = api.call("POST", "/waivers", "dev", json=REQUEST | {"expires": "2026-05-03T12:00:00Z"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == {
        "type": "about:blank",
        "title": "Invalid request",
        "status": 422,
        "detail": "expires 2026-05-03T12:00:00+00:00 is more than 90 days away (at most 2026-05-02T12:00:00+00:00)",
        "field": "expires",
    }
    wildcard = api.call(
        "POST", "/waivers", "dev", json=REQUEST | {"resources": [{"kind": "Deployment", "name": "*"}]}
    )
    assert (wildcard.status_code, wildcard.json()["field"]) == (422, "resources[0].name")
    missing = api.call("POST", "/waivers", "dev", json={k: v for k, v in REQUEST.items() if k != "expires"})
    assert (missing.status_code, missing.json()["field"]) == (422, "expires")


def test_figures_per_team_and_app(api: Api, result: Any) -> None:
    api.upload([result("no-privileged", "containers", "web"), result("no-privileged", "containers", "api")])
    api.call("POST", "/waivers", "dev", json=REQUEST)
    api.call("POST", "/waivers/1/approve", "lead", json={})
    api.clock.now = T0 + timedelta(days=2)
    figures = api.call("GET", "/waivers/figures", "dev")
    assert figures.status_code == 200
    row = {"active": 1, "waived": 1, "failing": 1, "ratio": 0.5, "meanAgeDays": 2.0, "maxAgeDays": 2.0}
    assert figures.json() == [
        {"team": "team-shop", "app": ""} | row,
        {"team": "team-shop", "app": "checkout"} | row,
    ]


def _approved(api: Api) -> None:
    api.call("POST", "/waivers", "dev", json=REQUEST)
    api.call("POST", "/waivers/1/approve", "lead", json={"note": "ok"})
    api.call(
        "POST",
        "/waivers",
        "dev",
        json=REQUEST | {"resources": [{"kind": "Deployment", "namespace": "shop", "name": "api"}]},
    )


def test_pulled_waivers_load_and_suppress_the_matching_result_in_a_scan(api: Api, result: Any) -> None:
    _approved(api)  # waiver-2 is only requested: it is not pulled

    def fetch(url: str, headers: Any) -> str:
        answer = api.client.get(url, headers=dict(headers))
        assert answer.status_code == 200, answer.text
        return str(answer.text)

    text = waivers_cli.fetch_waivers(
        server="http://testserver",
        token=api.tokens["dev"],
        app="checkout",
        env="prod",
        format="native",
        fetch=fetch,
    )
    assert text == (
        "apiVersion: leitplanke.dev/v1\n"
        "kind: Waiver\n"
        "metadata:\n"
        "  name: waiver-1\n"
        "  labels:\n"
        "    leitplanke.dev/app: checkout\n"
        "    leitplanke.dev/env: prod\n"
        "spec:\n"
        "  policies:\n"
        "  - no-privileged\n"
        "  rules:\n"
        "  - containers\n"
        "  match:\n"
        "  - kinds:\n"
        "    - Deployment\n"
        "    namespaces:\n"
        "    - shop\n"
        "    names:\n"
        "    - web\n"
        "  reason: vendor image needs it until 2.0\n"
        "  owner: team-shop\n"
        "  approver: user:lead via token:lead\n"
        "  requester: user:dev via token:dev\n"
        "  expires: '2026-02-11T12:00:00Z'\n"
    )
    loaded = loading.load_text(text, file="waivers.yaml", now=T0)
    assert loaded.problems == []
    report = ScanReport(
        results=[result("no-privileged", "containers", "web"), result("no-privileged", "containers", "api")]
    )
    engine.apply_waivers(report, loaded.waivers, now=T0)
    assert [(r.resource.name, r.verdict, r.waiver) for r in report.results] == [
        ("web", Verdict.SKIP, "waiver-1"),
        ("api", Verdict.FAIL, ""),
    ]


def test_active_waivers_export_as_kyverno_policy_exceptions(api: Api) -> None:
    _approved(api)
    exported = api.call("GET", "/waivers/export", "dev", params={"app": "checkout", "format": "kyverno"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    assert exported.text == (
        "apiVersion: kyverno.io/v2\n"
        "kind: PolicyException\n"
        "metadata:\n"
        "  name: waiver-1\n"
        "  labels:\n"
        "    app.kubernetes.io/managed-by: leitplanke\n"
        "  annotations:\n"
        "    leitplanke.dev/app: checkout\n"
        "    leitplanke.dev/env: prod\n"
        "    leitplanke.dev/expires: '2026-02-11T12:00:00Z'\n"
        "    leitplanke.dev/approver: user:lead via token:lead\n"
        "    leitplanke.dev/reason: vendor image needs it until 2.0\n"
        "spec:\n"
        "  exceptions:\n"
        "  - policyName: no-privileged\n"
        "    ruleNames:\n"
        "    - containers\n"
        "    - autogen-containers\n"
        "  match:\n"
        "    any:\n"
        "    - resources:\n"
        "        kinds:\n"
        "        - Deployment\n"
        "        namespaces:\n"
        "        - shop\n"
        "        names:\n"
        "        - web\n"
    )
    # once expired, nothing is exported
    api.clock.now = T0 + timedelta(days=11)
    assert (
        api.call("GET", "/waivers/export", "dev", params={"app": "checkout", "format": "kyverno"}).text == ""
    )
    assert api.call("GET", "/waivers/export", "data-lead", params={"app": "checkout"}).status_code == 403
