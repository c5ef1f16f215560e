"""Who may do what through the API, on both databases: four eyes compare people (subjects), not token
names; the catalog is readable by every authenticated caller; refused requests are audited once per
caller, action and target per minute and counted, with the count written when the window closes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leitplanke.governance import access
from leitplanke.service import create_app
from leitplanke.settings import Settings
from leitplanke.store.rows import AuditRecord

T0 = datetime(2026, 2, 1, 12, 0, 5, tzinfo=UTC)
REQUEST = {
    "app": "checkout",
    "env": "prod",
    "policies": ["no-privileged"],
    "rules": ["containers"],
    "resources": [{"kind": "Deployment", "namespace": "shop", "name": "web"}],
    "justification": "vendor image needs it until 2.0",
    "expires": "2026-02-11T12:00:00Z",
}
# (key, subject, token name, role, team)
TOKENS = (
    ("viewer", "user:vera@example.com", "vera", "viewer", "team-shop"),
    ("lead", "user:lead@example.com", "lead", "approver", "team-shop"),
    ("lead-2", "user:lead@example.com", "lead-approver", "approver", "team-shop"),
    ("alice", "user:alice@example.com", "shop", "approver", "team-shop"),
    ("bob", "user:bob@example.com", "shop", "approver", "team-shop"),
    ("data", "service:ci-data", "ci", "viewer", "team-data"),
)


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


def _tokens(database: Any) -> dict[str, str]:
    return {
        key: access.create_token(
            database, subject=subject, name=name, role=role, team=team, actor="test", now=T0
        ).token
        for key, subject, name, role, team in TOKENS
    }


@pytest.fixture
def api(catalog_database: Any) -> Iterator[Api]:
    clock = Clock()
    tokens = _tokens(catalog_database)
    app = create_app(Settings(database_url=catalog_database.url), database=catalog_database, clock=clock)
    with TestClient(app) as client:
        yield Api(client=client, database=catalog_database, clock=clock, tokens=tokens)


def _denials(database: Any) -> list[tuple[str, str, dict[str, Any]]]:
    with database.reading() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        return [(r.actor, r.target, dict(r.details)) for r in rows if r.action == "access.denied"]


def test_the_same_person_with_a_second_approver_token_cannot_approve_their_request(api: Api) -> None:
    assert api.call("POST", "/waivers", "lead", json=REQUEST).json()["requesterSubject"] == (
        "user:lead@example.com"
    )
    for _ in range(50):  # refused every time, audited once (the rest counted)
        refused = api.call("POST", "/waivers/1/approve", "lead-2", json={})
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "user:lead@example.com requested waiver 1 and cannot approve it",
        )
    assert _denials(api.database) == [
        (
            "user:lead@example.com via token:lead-approver",
            "waiver:1",
            {
                "wanted": "approve a waiver",
                "action": "waiver.approve",
                "reason": "the requester cannot decide their own waiver",
                "subject": "user:lead@example.com",
                "count": 1,
            },
        )
    ]
    assert api.call("GET", "/waivers/1", "lead").json()["status"] == "requested"


def test_two_people_whose_tokens_share_a_name_approve_each_others_waivers(api: Api) -> None:
    assert api.call("POST", "/waivers", "alice", json=REQUEST).status_code == 201
    assert api.call("POST", "/waivers", "bob", json=REQUEST).status_code == 201
    by_bob = api.call("POST", "/waivers/1/approve", "bob", json={}).json()
    by_alice = api.call("POST", "/waivers/2/approve", "alice", json={}).json()
    assert [(w["requester"], w["status"], w["decidedBy"]) for w in (by_bob, by_alice)] == [
        ("user:alice@example.com via token:shop", "approved", "user:bob@example.com via token:shop"),
        ("user:bob@example.com via token:shop", "approved", "user:alice@example.com via token:shop"),
    ]


def test_the_catalog_is_readable_by_any_authenticated_caller_of_any_team(api: Api) -> None:
    apps = api.call("GET", "/apps", "data")
    assert apps.status_code == 200
    assert sorted((a["name"], a["owner"]) for a in apps.json()) == [
        ("checkout", "team-shop"),
        ("warehouse", "team-data"),
    ]
    assert sorted(t["name"] for t in api.call("GET", "/teams", "data").json()) == ["team-data", "team-shop"]
    assert sorted(e["name"] for e in api.call("GET", "/environments", "data").json()) == ["dev", "prod"]
    assert api.client.get("/api/v1/apps").status_code == 401
    assert _denials(api.database) == []


def _metric(api: Api, name: str) -> float:
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def test_two_hundred_refusals_in_a_minute_are_two_audit_records_counting_all_of_them(api: Api) -> None:
    for _ in range(200):
        assert api.call("GET", "/audit", "viewer").status_code == 403
    first = {
        "wanted": "read the audit log",
        "action": "audit.read",
        "role": "admin",
        "team": None,
        "have": "viewer",
        "of": "team-shop",
        "count": 1,
    }
    assert _denials(api.database) == [("user:vera@example.com via token:vera", "audit", first)]
    assert _metric(api, "leitplanke_access_denied_total") == 200.0
    api.clock.now = T0 + timedelta(minutes=1)  # a new minute: audited again, the old count written
    assert api.call("GET", "/audit", "viewer").status_code == 403
    counts = [(d["count"], d.get("windowStart"), d.get("windowEnd")) for _, _, d in _denials(api.database)]
    assert counts == [
        (1, None, None),
        (199, "2026-02-01T12:00:00.000000Z", "2026-02-01T12:01:00.000000Z"),
        (1, None, None),
    ]
    assert _metric(api, "leitplanke_access_denied_total") == 201.0


def test_the_counts_of_open_windows_are_written_at_shutdown(catalog_database: Any) -> None:
    tokens = _tokens(catalog_database)
    app = create_app(Settings(database_url=catalog_database.url), database=catalog_database, clock=Clock())
    with TestClient(app) as client:
        for _ in range(5):
            response = client.get("/api/v1/findings", params={"team": "team-shop"}, headers=_bearer(tokens))
            assert response.status_code == 403
        assert [d["count"] for _, _, d in _denials(catalog_database)] == [1]
    assert [(target, d["count"]) for _, target, d in _denials(catalog_database)] == [
        ("team:team-shop", 1),
        ("team:team-shop", 4),
    ]


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['data']}"}


def test_the_periodic_flush_writes_the_count_of_a_closed_window(catalog_database: Any) -> None:
    tokens, clock = _tokens(catalog_database), Clock()
    settings = Settings(database_url=catalog_database.url)
    app = create_app(settings, database=catalog_database, clock=clock, denial_flush_seconds=0.05)
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/api/v1/audit", headers=_bearer(tokens)).status_code == 403
        clock.now = T0 + timedelta(minutes=1)
        deadline = time.monotonic() + 10
        while len(_denials(catalog_database)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [d["count"] for _, _, d in _denials(catalog_database)] == [1, 2]
