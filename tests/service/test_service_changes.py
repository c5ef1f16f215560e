"""The change API in-process on both databases with a real bare Git remote: propose → four-eyes approval
→ apply (a commit in the remote) → deployed by commit; the author's own approval refused and audited,
a second approval by the same person refused, bad input answered with the field at fault, a closed sync
window with 409 and a platform-admin's override audited."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leitplanke import engine
from leitplanke.delivery import changes, gitops
from leitplanke.engine import loading
from leitplanke.governance import access
from leitplanke.service import changeschemas, changing, create_app
from leitplanke.settings import Settings
from leitplanke.store import auditrecords

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # Monday, 10:00 in Berlin
POLICY = """\
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: disallow-privileged}
spec:
  title: Privileged containers are not allowed
  severity: critical
  match: {podSpec: true}
  rules:
  - name: no-privileged-containers
    forEach: podSpec.containers
    validate: "!item.?securityContext.?privileged.orValue(false)"
    message: "'container ' + item.name + ' is privileged'"
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec: {template: {spec: {containers: [{name: app, image: "shop/checkout:VERSION"}]}}}
"""


@dataclass
class Api:
    client: TestClient
    database: Any
    remote: Path
    tokens: dict[str, str]
    clock: list[datetime]

    def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def api(catalog_database: Any, tmp_path: Path) -> Iterator[Api]:
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True)
    tokens = {}
    for who, role, team in (
        ("admin", "platform-admin", None),
        ("alice", "developer", "team-shop"),
        ("bob", "approver", "team-shop"),
        ("viewer", "viewer", "team-shop"),
        ("data", "approver", "team-data"),
    ):
        created = access.create_token(
            catalog_database,
            subject=f"user:{who}@example.com",
            name=who,
            role=role,
            team=team,
            actor="t",
            now=NOW,
        )
        tokens[who] = created.token
    clock = [NOW]
    settings = Settings(database_url=catalog_database.url, data_dir=tmp_path / "data")
    app = create_app(settings, database=catalog_database, clock=lambda: clock[0])
    loaded = loading.load_text(POLICY, file="policy.yaml", now=NOW)
    app.state.changes = changing.ChangeTools(
        writer=gitops.Writer(tmp_path / "work"), policy_set=engine.compile(loaded.policies)
    )
    with TestClient(app) as client:
        result = Api(client=client, database=catalog_database, remote=remote, tokens=tokens, clock=clock)
        control = {
            "approvals": {"required": 1, "expiresAfter": "24h"},
            "syncWindows": [
                {"kind": "allow", "schedule": "0 8 * * 1-5", "duration": "9h", "timeZone": "Europe/Berlin"}
            ],
            "gitops": {"repository": str(remote), "branch": "main", "path": "envs/prod"},
        }
        body = {"name": "prod", "enforcement": "enforce", "requiresApproval": True, "changeControl": control}
        assert result.call("PUT", "/environments/prod", "admin", json=body).status_code == 200
        yield result


def _create(api: Api, version: str = "1.0", **extra: Any) -> Any:
    body = {
        "app": "checkout",
        "env": "prod",
        "title": f"checkout {version}",
        "manifests": DEPLOYMENT.replace("VERSION", version),
        "submit": True,
        **extra,
    }
    return api.call("POST", "/changes", "alice", json=body)


def test_a_change_goes_from_proposal_through_approval_to_a_commit_and_a_deployment(api: Api) -> None:
    created = _create(api)
    assert created.status_code == 201, created.text
    change = created.json()
    assert (change["status"], change["authorSubject"], change["preflightBlocking"]) == (
        "submitted",
        "user:alice@example.com",
        False,
    )
    approved = api.call("POST", f"/changes/{change['id']}/approve", "bob")
    assert approved.status_code == 200, approved.text
    assert [(a["approverSubject"], a["team"], a["counts"]) for a in approved.json()["approvals"]] == [
        ("user:bob@example.com", "team-shop", True)
    ]
    applied = api.call("POST", f"/changes/{change['id']}/apply", "alice", json={})
    assert applied.status_code == 200, applied.text
    sha = applied.json()["commitSha"]
    assert _git("rev-parse", "main", cwd=api.remote).strip() == sha
    assert (
        _git("log", "-1", "--format=%an|%cn", sha, cwd=api.remote).strip() == "alice@example.com|leitplanke"
    )
    changes.mark_deployed(api.database, sha, actor="argocd", now=NOW)
    assert api.call("GET", f"/changes/{change['id']}", "viewer").json()["status"] == "deployed"
    listed = api.call("GET", "/changes?status=deployed", "viewer").json()
    assert [(c["id"], c["status"], c["commitSha"]) for c in listed] == [(change["id"], "deployed", sha)]


def test_the_author_cannot_approve_their_change_and_the_refusal_is_audited(api: Api) -> None:
    change = _create(api).json()
    alice_approver = access.create_token(
        api.database,
        subject="user:alice@example.com",
        name="alice-approver",
        role="approver",
        team="team-shop",
        actor="t",
        now=NOW,
    )
    api.tokens["alice-approver"] = alice_approver.token
    refused = api.call("POST", f"/changes/{change['id']}/approve", "alice-approver")
    assert refused.status_code == 403
    assert (
        refused.json()["detail"]
        == f"user:alice@example.com requested change {change['id']} and cannot approve it"
    )
    with api.database.reading() as session:
        denied = [r.details for r in auditrecords.iter_audit_records(session) if r.action == "access.denied"]
    assert denied[-1]["reason"] == "the requester cannot decide their own change"
    # an approver of another team is no approver of this change
    assert api.call("POST", f"/changes/{change['id']}/approve", "data").status_code == 403


def test_a_second_approval_by_the_same_person_is_a_conflict(api: Api) -> None:
    put = {
        "name": "prod",
        "enforcement": "enforce",
        "requiresApproval": True,
        "changeControl": {"approvals": {"required": 2}, "gitops": {"repository": str(api.remote)}},
    }
    assert api.call("PUT", "/environments/prod", "admin", json=put).status_code == 200
    change = _create(api).json()
    assert api.call("POST", f"/changes/{change['id']}/approve", "bob").json()["status"] == "submitted"
    again = api.call("POST", f"/changes/{change['id']}/approve", "bob")
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"user:bob@example.com approved change {change['id']} already",
    )


def test_bad_input_is_answered_with_the_field_at_fault(api: Api) -> None:
    bad_env = {
        "name": "prod",
        "changeControl": {"syncWindows": [{"kind": "allow", "schedule": "every day", "duration": "1h"}]},
    }
    answer = api.call("PUT", "/environments/prod", "admin", json=bad_env)
    assert (answer.status_code, answer.json()["field"]) == (422, "changeControl.syncWindows[0].schedule")
    unknown = _create(api, env="nowhere")
    assert (unknown.status_code, unknown.json()["field"]) == (404, "env")
    empty = _create(api, manifests="  ")
    assert (empty.status_code, empty.json()["field"]) == (422, "manifests")
    extra = _create(api, status="approved")
    assert (extra.status_code, extra.json()["field"]) == (422, "status")
    assert (
        api.call(
            "POST",
            "/changes",
            "viewer",
            json={"app": "checkout", "env": "prod", "title": "t", "manifests": "a: b"},
        ).status_code
        == 403
    )
    assert api.call("GET", "/changes/99", "viewer").status_code == 404


def test_outside_its_sync_window_a_change_waits_unless_a_platform_admin_overrides(api: Api) -> None:
    change = _create(api).json()
    api.call("POST", f"/changes/{change['id']}/approve", "bob")
    api.clock[0] = NOW + timedelta(hours=10)  # 20:00 in Berlin
    waiting = api.call("POST", f"/changes/{change['id']}/apply", "alice", json={})
    assert (waiting.status_code, waiting.json()["field"], waiting.json()["detail"]) == (
        409,
        "window",
        f"change {change['id']} waits for the sync window: no allow window is open; "
        "it opens at 2026-01-06T07:00:00.000000Z",
    )
    assert (
        api.call("POST", f"/changes/{change['id']}/apply", "alice", json={"overrideWindow": True}).status_code
        == 403
    )
    done = api.call("POST", f"/changes/{change['id']}/apply", "admin", json={"overrideWindow": True})
    assert (done.status_code, done.json()["windowOverride"]) == (
        200,
        "user:admin@example.com via token:admin",
    )


def test_the_routes_know_exactly_the_states_of_a_change() -> None:
    import typing

    assert typing.get_args(changeschemas.Status) == changes.STATUSES


def test_a_restarted_service_records_a_change_whose_commit_reached_git_before_a_crash(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    change = _create(api).json()
    api.call("POST", f"/changes/{change['id']}/approve", "bob")

    class Crash(Exception):
        """The process dies between the push and the database (an exception: the test client lives on)."""

    def crash(*args: Any, **kwargs: Any) -> None:
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(gitops, "_record", crash)
        with pytest.raises(Crash):
            api.call("POST", f"/changes/{change['id']}/apply", "alice", json={})
    assert api.call("GET", f"/changes/{change['id']}", "viewer").json()["status"] == "approved"
    pushed = _git("rev-parse", "main", cwd=api.remote).strip()
    settings = Settings(database_url=api.database.url, data_dir=tmp_path / "restarted")
    restarted = create_app(settings, database=api.database, clock=lambda: NOW)
    with TestClient(restarted) as client:  # the start reconciles, before the first request
        answer = client.get(
            f"/api/v1/changes/{change['id']}", headers={"Authorization": f"Bearer {api.tokens['viewer']}"}
        )
    assert (answer.json()["status"], answer.json()["commitSha"], answer.json()["appliedBy"]) == (
        "applied",
        pushed,
        "system",
    )


def test_the_environments_show_their_change_control_and_a_put_without_it_keeps_it(api: Api) -> None:
    control = {
        "approvals": {
            "required": 1,
            "expiresAfter": "24h",
            "secondTeam": "",
            "secondTeamKinds": [
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "NetworkPolicy",
                "ValidatingWebhookConfiguration",
                "MutatingWebhookConfiguration",
            ],
        },
        "syncWindows": [
            {"kind": "allow", "schedule": "0 8 * * 1-5", "duration": "9h", "timeZone": "Europe/Berlin"}
        ],
        "failureMode": "closed",
        "gitops": {"repository": str(api.remote), "branch": "main", "path": "envs/prod"},
    }
    partial = {"name": "prod", "enforcement": "warn", "requiresApproval": True}
    answer = api.call("PUT", "/environments/prod", "admin", json=partial)
    assert answer.json() == {"name": "prod", "outcome": "updated"}
    shown = {env["name"]: env for env in api.call("GET", "/environments", "viewer").json()}
    assert shown["prod"] == {
        "name": "prod",
        "enforcement": "warn",
        "requiresApproval": True,
        "changeControl": control,
    }
    # sent, it replaces the stored one (a full replacement: what it leaves out takes the defaults)
    replaced = {**partial, "changeControl": {"approvals": {"required": 2}}}
    assert api.call("PUT", "/environments/prod", "admin", json=replaced).json()["outcome"] == "updated"
    shown = {env["name"]: env for env in api.call("GET", "/environments", "viewer").json()}
    assert shown["prod"]["changeControl"] == {
        **control,
        "approvals": {**control["approvals"], "required": 2},
        "syncWindows": [],
        "gitops": None,
    }
