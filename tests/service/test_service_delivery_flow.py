"""Issue 15's whole flow against a real ``leitplanke serve`` (SQLite and PostgreSQL), over the API and the
CLI: propose → pre-flight → the author cannot approve → another approver approves → the sync window holds
it, then opens → apply commits to a bare Git repository → Argo CD's on-deployed webhook → the change is
deployed and the deployment recorded with its commit → Alertmanager firing/resolved → an incident →
``leitplanke dora`` shows exactly these figures.

The service runs on the real clock (a real process), so times are read back from it: the deployment goes
live within seconds of the commit, the incident opens a second after it and is resolved a second later.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import serviceprocesses

import leitplanke
from leitplanke import catalog
from leitplanke.governance import access

LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])
GOOD = Path(__file__).resolve().parents[2] / "examples" / "good" / "deployment.yaml"  # passes every pack
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # when the catalog and tokens are made
CLOSED = {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "timeZone": "UTC"}  # always closed
OPEN = {"kind": "allow", "schedule": "* * * * *", "duration": "1h", "timeZone": "UTC"}  # always open


@dataclass
class Flow:
    url: str
    env: dict[str, str]
    remote: Path
    tokens: dict[str, str]
    cwd: Path

    def cli(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "LEITPLANKE_TOKEN": self.tokens[who], "LEITPLANKE_SERVER": self.url}
        return subprocess.run(
            [LEITPLANKE, *args], env=env, cwd=self.cwd, capture_output=True, text=True, timeout=120
        )

    def api(self, method: str, path: str, who: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def control(self, window: dict[str, str]) -> dict[str, Any]:
        return {
            "approvals": {"required": 1, "expiresAfter": "24h"},
            "syncWindows": [window],
            "gitops": {"repository": str(self.remote), "branch": "main", "path": "envs/prod"},
        }


@pytest.fixture
def flow(database: Any, tmp_path: Path, catalog_yaml: str) -> Iterator[Flow]:
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True)
    parsed, problems = catalog.parse_catalog(catalog_yaml)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=NOW)
    tokens = {}
    people = (
        ("alice", "user:alice@example.com", "developer", "team-shop"),
        ("bob", "user:bob@example.com", "approver", "team-shop"),
        ("alice-approver", "user:alice@example.com", "approver", "team-shop"),
        ("admin", "user:root@example.com", "platform-admin", None),
        ("argocd", "service:argocd", "developer", "team-shop"),
        ("lead", "user:lead@example.com", "viewer", "team-shop"),
    )
    for name, subject, role, team in people:
        created = access.create_token(
            database, subject=subject, name=name, role=role, team=team, actor="test", now=NOW
        )
        tokens[name] = created.token
    port = serviceprocesses.free_port()
    env = {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": database.url,
        "LEITPLANKE_DATA_DIR": str(tmp_path / "data"),
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }
    (tmp_path / "checkout.yaml").write_text(GOOD.read_text())
    with serviceprocesses.serving(
        [LEITPLANKE, "serve", "--port", str(port)], port=port, cwd=tmp_path, env=env
    ):
        found = Flow(url=f"http://127.0.0.1:{port}", env=env, remote=remote, tokens=tokens, cwd=tmp_path)
        body = {"name": "prod", "enforcement": "enforce", "requiresApproval": True}
        put = found.api(
            "PUT", "/api/v1/environments/prod", "admin", json={**body, "changeControl": found.control(CLOSED)}
        )
        assert put.status_code == 200, put.text
        yield found


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _argocd(sha: str) -> dict[str, Any]:
    return {
        "trigger": "on-deployed",
        "application": {
            "metadata": {
                "name": "checkout-prod",
                "labels": {"leitplanke.dev/app": "checkout", "leitplanke.dev/env": "prod"},
            },
            "status": {"operationState": {"syncResult": {"revision": sha}}, "sync": {"revision": sha}},
        },
    }


def _alert(status: str, *, starts: datetime, ends: datetime | None) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {"alertname": "CheckoutErrors", "app": "checkout", "env": "prod"},
        "annotations": {"summary": "checkout answers 5xx"},
        "startsAt": _stamp(starts),
        "endsAt": _stamp(ends) if ends is not None else "0001-01-01T00:00:00Z",
        "fingerprint": "c0ffee",
    }
    return {"version": "4", "status": status, "alerts": [alert]}


def test_a_change_goes_from_proposal_to_the_dora_figures_over_the_api_and_the_cli(flow: Flow) -> None:
    # propose (the CLI): rendered manifests, submitted; the pre-flight is attached
    create = ("change", "create", "--app", "checkout", "--env", "prod", "--submit", "--manifests")
    created = flow.cli("alice", *create, "checkout.yaml", "--title", "storefront 2.4.1")
    assert (created.returncode, created.stdout) == (
        0,
        "    1  submitted  checkout/prod  storefront 2.4.1\n",
    ), created.stderr
    change = flow.api("GET", "/api/v1/changes/1", "bob").json()
    assert (change["status"], change["preflightBlocking"], change["preflight"]["mode"]) == (
        "submitted",
        False,
        "enforce",
    )
    assert change["diff"].splitlines()[:2] == [
        "--- a/envs/prod/checkout.yaml",
        "+++ b/envs/prod/checkout.yaml",
    ]

    # four eyes: the author, holding an approver token as well, cannot approve; bob (the API) can
    own = flow.cli("alice-approver", "change", "approve", "1")
    assert own.returncode == 5
    assert "user:alice@example.com requested change 1 and cannot approve it" in own.stderr
    approved = flow.api("POST", "/api/v1/changes/1/approve", "bob", json={})
    assert (approved.status_code, approved.json()["status"]) == (200, "approved"), approved.text

    # the sync window holds it (the CLI), then opens (the environment's windows replaced, the API)
    held = flow.cli("alice", "change", "apply", "1")
    assert held.returncode == 5
    assert "change 1 waits for the sync window: deny window '* * * * *' (UTC) is open" in held.stderr
    assert _git("for-each-ref", "refs/heads", cwd=flow.remote) == ""
    body = {
        "name": "prod",
        "enforcement": "enforce",
        "requiresApproval": True,
        "changeControl": flow.control(OPEN),
    }
    assert flow.api("PUT", "/api/v1/environments/prod", "admin", json=body).status_code == 200

    # apply (the API): a commit in the bare repository, by the author, with the change's ID and approver
    applied = flow.api("POST", "/api/v1/changes/1/apply", "alice", json={})
    assert (applied.status_code, applied.json()["status"]) == (200, "applied"), applied.text
    sha = applied.json()["commitSha"]
    assert _git("rev-parse", "main", cwd=flow.remote) == sha
    assert _git("log", "-1", "--format=%an|%cn", sha, cwd=flow.remote) == "alice@example.com|leitplanke"
    message = _git("log", "-1", "--format=%B", sha, cwd=flow.remote).splitlines()
    assert message[0] == "change 1: storefront 2.4.1"
    assert message[-3:] == [
        "Change-Id: leitplanke-change-1",
        "Approved-by: user:bob@example.com (team-shop)",
        "Signed-off-by: leitplanke <leitplanke@leitplanke.invalid>",
    ]
    assert _git("show", f"{sha}:envs/prod/checkout.yaml", cwd=flow.remote) == GOOD.read_text().rstrip("\n")
    applied_at = _time(applied.json()["appliedAt"])
    assert _git("log", "-1", "--format=%ct", sha, cwd=flow.remote) == str(int(applied_at.timestamp()))

    # Argo CD: on-deployed with that sha; the same notification twice counts once
    hook = flow.api("POST", "/hooks/argocd", "argocd", json=_argocd(sha))
    assert hook.status_code == 200, hook.text
    answer = hook.json()
    assert {
        k: answer.get(k) for k in ("outcome", "app", "env", "revision", "status", "commits", "change")
    } == {
        "outcome": "recorded",
        "app": "checkout",
        "env": "prod",
        "revision": sha,
        "status": "succeeded",
        "commits": 1,
        "change": 1,
    }
    again = flow.api("POST", "/hooks/argocd", "argocd", json=_argocd(sha)).json()
    assert (again["outcome"], again["deployment"], again.get("change")) == (
        "duplicate",
        answer["deployment"],
        None,
    )
    shown = flow.cli("bob", "change", "show", "1").stdout.splitlines()
    assert shown[0] == "    1  deployed   checkout/prod  storefront 2.4.1"
    deployments = flow.api("GET", "/api/v1/deployments?env=prod", "lead").json()
    assert [(d["revision"], d["status"], d["source"], d["commits"], d["rollback"]) for d in deployments] == [
        (sha, "succeeded", "argocd", 1, False)
    ]
    deployed_at = _time(deployments[0]["deployedAt"])
    audit = flow.api("GET", "/api/v1/audit?limit=500", "admin").json()
    actions = [r["action"] for r in audit["items"] if r["target"] == "change:1"]
    assert actions[-2:] == ["change.apply", "change.deploy"]

    # Alertmanager: firing a second after the deployment, resolved a second later: one incident
    opened, resolved = deployed_at + timedelta(seconds=1), deployed_at + timedelta(seconds=2)
    firing = flow.api(
        "POST", "/hooks/alertmanager", "argocd", json=_alert("firing", starts=opened, ends=None)
    )
    assert [i["outcome"] for i in firing.json()["incidents"]] == ["opened"], firing.text
    done = flow.api(
        "POST", "/hooks/alertmanager", "argocd", json=_alert("resolved", starts=opened, ends=resolved)
    )
    assert [i["outcome"] for i in done.json()["incidents"]] == ["resolved"], done.text
    incidents = flow.api("GET", "/api/v1/incidents?env=prod", "lead").json()
    assert [
        (i["app"], i["title"], i["openedAt"] is not None, i["resolvedAt"] is not None) for i in incidents
    ] == [("checkout", "checkout answers 5xx", True, True)]
    while datetime.now(UTC) <= resolved:  # the figures are of what has happened by now
        time.sleep(0.1)

    # the figures: one deployment in 7 days, its commit live within the minute, failed (the incident),
    # recovered within the minute
    dora = flow.cli("lead", "dora", "--server", flow.url, "--team", "team-shop", "--period", "7d")
    assert (dora.returncode, dora.stderr) == (0, "")
    lines = [line.rstrip() for line in dora.stdout.splitlines()]
    assert lines[:8] == [
        "DORA figures of team team-shop in prod, last 7 days",
        "metric                          value   band    basis",
        "─" * 69,
        "deployment frequency         0.14/day   high    1 deployments",
        "lead time for changes              0m   elite   median of 1 commits",
        "change failure rate            100.0%   low     1 failed",
        "failed deployment recovery         0m   elite   median of 1 recovered",
        "Weekly trend",
    ]
    week, *figures = lines[-1].split()
    assert figures == ["1", "0m", "100.0%", "0m"]
    assert (deployed_at - timedelta(days=7)).date() <= date.fromisoformat(week) <= deployed_at.date()
