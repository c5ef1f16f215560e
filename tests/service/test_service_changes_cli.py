"""``leitplanke change`` against a real ``leitplanke serve`` (SQLite, the default packs as pre-flight) and
a bare Git remote on disk: create → approve by another person → apply → show and list, each a real
process; the author's own approval exits 5 (refused) with the service's reason."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import serviceprocesses

import leitplanke
from leitplanke import catalog
from leitplanke.catalog import changecontrols
from leitplanke.governance import access
from leitplanke.store import databases

LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop, labels: {app: checkout}}
spec:
  replicas: 2
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      containers:
      - name: app
        image: registry.example.com/shop/checkout:1.4.2
"""


@dataclass
class Served:
    url: str
    env: dict[str, str]
    remote: Path
    tokens: dict[str, str]
    cwd: Path

    def run(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "LEITPLANKE_TOKEN": self.tokens[who], "LEITPLANKE_SERVER": self.url}
        return subprocess.run(
            [LEITPLANKE, "change", *args], env=env, cwd=self.cwd, capture_output=True, text=True, timeout=120
        )


@pytest.fixture
def served(tmp_path: Path, catalog_yaml: str, audit_keys: object) -> Iterator[Served]:
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True)
    url = f"sqlite:///{tmp_path / 'server.db'}"
    database = databases.Database(url, audit=audit_keys)
    databases.upgrade(database)
    parsed, problems = catalog.parse_catalog(catalog_yaml)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=NOW)
    control, wrong = changecontrols.parse_change_control(
        {"gitops": {"repository": str(remote), "path": "envs/prod"}}, where="changeControl"
    )
    assert wrong == []
    spec = catalog.EnvironmentSpec(
        name="prod", enforcement="enforce", requires_approval=True, change_control=control
    )
    catalog.put_environment(database, spec, actor="test", now=NOW)
    tokens = {}
    for who, role in (("alice", "developer"), ("bob", "approver"), ("alice-approver", "approver")):
        subject = "user:" + who.split("-")[0] + "@example.com"
        created = access.create_token(
            database, subject=subject, name=who, role=role, team="team-shop", actor="t", now=NOW
        )
        tokens[who] = created.token
    database.dispose()
    port = serviceprocesses.free_port()
    env = {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": url,
        "LEITPLANKE_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }
    with serviceprocesses.serving(
        [LEITPLANKE, "serve", "--port", str(port)], port=port, cwd=tmp_path, env=env
    ):
        yield Served(url=f"http://127.0.0.1:{port}", env=env, remote=remote, tokens=tokens, cwd=tmp_path)


GOOD = (
    Path(__file__).resolve().parents[2] / "examples" / "good" / "deployment.yaml"
)  # passes every default pack


def test_the_change_commands_propose_approve_and_apply_through_a_real_service(served: Served) -> None:
    (served.cwd / "checkout.yaml").write_text(MANIFESTS)
    (served.cwd / "storefront.yaml").write_text(GOOD.read_text())
    create = ("create", "--app", "checkout", "--env", "prod", "--submit", "--manifests")
    blocked = served.run("alice", *create, "checkout.yaml", "--title", "checkout 1.4.2")
    assert (blocked.returncode, blocked.stdout) == (0, "    1  submitted  checkout/prod  checkout 1.4.2\n"), (
        blocked.stderr
    )
    # the default packs at enforce: no securityContext, no probes, no limits — approval needs a waiver
    refused = served.run("bob", "approve", "1")
    assert refused.returncode == 5
    assert "change 1 fails its pre-flight at enforce: it needs an approved waiver" in refused.stderr
    created = served.run("alice", *create, "storefront.yaml", "--title", "storefront 2.4.1")
    assert created.stdout == "    2  submitted  checkout/prod  storefront 2.4.1\n", created.stderr
    own = served.run("alice-approver", "approve", "2")
    assert own.returncode == 5
    assert "user:alice@example.com requested change 2 and cannot approve it" in own.stderr
    approved = served.run("bob", "approve", "2")
    assert (approved.returncode, approved.stdout) == (
        0,
        "    2  approved   checkout/prod  storefront 2.4.1\n",
    ), approved.stderr
    applied = served.run("alice", "apply", "2")
    assert (applied.returncode, applied.stdout) == (0, "    2  applied    checkout/prod  storefront 2.4.1\n")
    sha = subprocess.run(
        ["git", "rev-parse", "main"], cwd=served.remote, capture_output=True, text=True
    ).stdout.strip()
    lines = served.run("bob", "show", "2").stdout.splitlines()
    assert lines[0] == "    2  applied    checkout/prod  storefront 2.4.1"
    assert lines[1].startswith("author: user:alice@example.com   diff: ")
    assert lines[2:] == [
        "pre-flight (enforce): ok, 0 failing",
        "approved by user:bob@example.com (team-shop)",
        f"commit: {sha}",
    ]
    listed = served.run("bob", "list", "--env", "prod")
    assert listed.stdout == (
        "    1  submitted  checkout/prod  checkout 1.4.2\n    2  applied    checkout/prod  storefront 2.4.1\n"
    )
