"""Drift in the agent, against the test API server, a real Git repository in a temporary directory and a
real ``leitplanke serve`` (SQLite and PostgreSQL) with a real HTTP alert receiver: a change behind Git's
back becomes a drift finding of the owning app with the diff and an alert; putting it back fixes it; the
agent's policy findings of the same scope stay as they are."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubeservers
import pytest
import yaml

import leitplanke
from conftest import budget, deployment, eventually, namespace
from leitplanke import catalog
from leitplanke.agent import drifting
from leitplanke.core.problems import UsageError
from leitplanke.governance import access
from leitplanke.store import databases

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
import serviceprocesses  # the service tests' helper that starts a real serve

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])


class Receiver:
    """Every alert POSTed to it, in order."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


class Service:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.url = f"http://127.0.0.1:{port}"

    def findings(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """(policy, rule, resource name) → the finding as the API shows it."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(
            "GET", "/api/v1/findings?app=checkout", headers={"Authorization": f"Bearer {self.token}"}
        )
        page: dict[str, Any] = json.loads(connection.getresponse().read())
        return {(f["policy"], f["rule"], f["resource"]["name"]): f for f in page["items"]}

    def statuses(self) -> set[tuple[str, str, str, str, str]]:
        """(policy, resource name, status, source, category) of every finding of checkout."""
        return {
            (policy, name, f["status"], f["source"], f["category"])
            for (policy, _, name), f in self.findings().items()
        }


@pytest.fixture
def service(
    tmp_path: Path, catalog_yaml: str, audit_keys: object, database_url: str, receiver: Receiver
) -> Iterator[Service]:
    database = databases.Database(database_url, audit=audit_keys)
    databases.upgrade(database)
    parsed, problems = catalog.parse_catalog(catalog_yaml)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=NOW)
    token = access.create_token(
        database,
        subject="service:agent",
        name="agent",
        role="developer",
        team="team-shop",
        actor="t",
        now=NOW,
    )
    database.dispose()
    port = serviceprocesses.free_port()
    env = {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": database_url,
        "LEITPLANKE_DATA_DIR": str(tmp_path),
        "LEITPLANKE_ALERT_TARGETS": json.dumps([{"name": "ops", "type": "webhook", "url": receiver.url}]),
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }
    with serviceprocesses.serving(
        [LEITPLANKE, "serve", "--port", str(port)], port=port, cwd=tmp_path, env=env
    ):
        yield Service(port, token.token)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A Git repository whose apps/shop holds the Deployment web of namespace shop (nginx:1.27)."""
    path = tmp_path / "gitops"
    (path / "apps" / "shop").mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    web = deployment("web", "shop", labels={"team": "shop"})
    (path / "apps" / "shop" / "web.yaml").write_text(yaml.safe_dump(web), encoding="utf-8")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "web")
    return path


def _config(repo: Path, tmp_path: Path) -> drifting.Config:
    path = tmp_path / "drift.yaml"
    path.write_text(
        f"targets:\n- repo: {repo}\n  revision: main\n  path: apps/shop\n  namespace: shop\n",
        encoding="utf-8",
    )
    return drifting.load_config(path)


def test_a_change_behind_gits_back_is_a_drift_finding_with_the_diff_and_an_alert_and_putting_it_back_fixes_it(
    kube, start_agent, policy_file, service, receiver, repo, tmp_path
):
    state, server = kube
    shop = namespace("shop", **{"leitplanke.dev/app": "checkout", "leitplanke.dev/env": "prod"})
    kubeservers.seed(state, [shop, deployment("web", "shop", labels={"team": "shop"})])
    agent = start_agent(
        server,
        policy_paths=(str(policy_file),),
        packs=("none",),
        service_url=service.url,
        token=service.token,
        drift=_config(repo, tmp_path),
        drift_seconds=0.0,
    )
    assert agent.wait_for_flush()
    # in sync with Git: the agent's policy finding only (no budget in shop)
    eventually(
        lambda: service.statuses() == {("require-budget", "web", "new", "cluster:test", "Reliability")}
    )

    changed = deployment("web", "shop", labels={"team": "shop"})
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    state.put(changed)

    eventually(lambda: ("drift.deployment", "drifted", "web") in service.findings(), timeout=60)
    assert service.statuses() == {
        ("require-budget", "web", "new", "cluster:test", "Reliability"),
        ("drift.deployment", "web", "new", "cluster:test:drift", "drift"),
    }
    message = service.findings()[("drift.deployment", "drifted", "web")]["message"].splitlines()
    assert message[:3] == [
        "Deployment/shop/web differs from Git:",
        "--- desired/Deployment/shop/web",
        "+++ live/Deployment/shop/web",
    ]
    assert [line for line in message if line.startswith(("-  ", "+  "))] == [
        "-      - image: nginx:1.27",
        "+      - image: nginx:1.28",
    ]
    alerts = eventually(
        lambda: [b["alert"] for b in receiver.bodies if b["alert"]["name"] == "LeitplankeNewFinding"]
    )
    assert [(a["summary"], a["labels"]["category"], a["severity"]) for a in alerts] == [
        (
            "new drift finding in checkout (prod): drift.deployment/drifted on Deployment/shop/web",
            "drift",
            "medium",
        )
    ]

    state.put(deployment("web", "shop", labels={"team": "shop"}))  # put back as Git has it

    eventually(
        lambda: ("drift.deployment", "web", "fixed", "cluster:test:drift", "drift") in service.statuses()
    )
    # the drift upload fixed its own finding only; the policy finding is the agent's policy source's
    assert service.statuses() == {
        ("require-budget", "web", "new", "cluster:test", "Reliability"),
        ("drift.deployment", "web", "fixed", "cluster:test:drift", "drift"),
    }

    state.put(
        budget("web", "shop")
    )  # the policy finding is fixed by the agent's policy upload, drift untouched
    eventually(
        lambda: ("require-budget", "web", "fixed", "cluster:test", "Reliability") in service.statuses()
    )
    eventually(lambda: agent.figures.drifted._value.get() == 1)  # the budget is live, not in Git: extra


def test_a_drift_configuration_with_an_unknown_field_is_refused_with_the_field_named(tmp_path: Path) -> None:
    path = tmp_path / "drift.yaml"
    path.write_text("targets:\n- repo: /r\n  path: apps\n  branch: main\n", encoding="utf-8")
    with pytest.raises(UsageError) as raised:
        drifting.load_config(path)
    assert str(raised.value) == (
        f"{path}: targets[0]: unknown field(s) branch; known: app, env, namespace, path, repo, revision, values"
    )


def test_a_target_whose_git_cannot_be_read_leaves_drift_unknown_rather_than_fixed(tmp_path: Path) -> None:
    from leitplanke.agent import inventories, processing

    path = tmp_path / "drift.yaml"
    path.write_text(f"targets:\n- repo: {tmp_path / 'nothing-here'}\n  path: apps\n", encoding="utf-8")
    drifter = drifting.Drifter(drifting.load_config(path), "test")
    assert drifter.refresh(0.0) is False
    assert drifter.results(inventories.Inventory(), scoping=processing.Scoping()) is None
    assert (drifter.due(59.0), drifter.due(60.0)) == (False, True)


def test_ignore_rules_come_from_the_configuration_and_its_ignore_file(tmp_path: Path) -> None:
    (tmp_path / "ignore.yaml").write_text(
        "- {kind: Deployment, group: apps, jsonPointers: [/spec/replicas]}\n"
    )
    path = tmp_path / "drift.yaml"
    path.write_text(
        "ignoreFile: ignore.yaml\n"
        "ignoreDifferences:\n- {kind: Service, jqPathExpressions: [.spec.ports]}\n"
        "refreshSeconds: 30\nseverity: high\n"
        "targets:\n- {repo: /r, path: apps, app: checkout, env: prod}\n",
        encoding="utf-8",
    )
    config = drifting.load_config(path)
    assert [(r.kind, r.group, r.json_pointers, r.jq_path_expressions) for r in config.rules] == [
        ("Service", "", (), (".spec.ports",)),
        ("Deployment", "apps", ("/spec/replicas",), ()),
    ]
    assert (config.refresh_seconds, config.severity.label) == (30.0, "high")
    assert config.targets == (drifting.Target(repo="/r", path="apps", app="checkout", env="prod"),)


def _managed_by(manager: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A managedFields entry as the API server writes it."""
    return {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": "2026-02-01T12:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }


def _scaled(replicas: int, *, by: str) -> dict[str, Any]:
    """web as Git has it, but scaled to ``replicas`` by the field manager ``by``."""
    web = deployment("web", "shop", labels={"team": "shop"})
    web["spec"]["replicas"] = replicas
    web["metadata"]["managedFields"] = [
        _managed_by(
            "argocd-controller", {"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:template": {}}}
        ),
        _managed_by(by, {"f:spec": {"f:replicas": {}}}),
    ]
    return web


def test_a_change_by_an_ignored_field_manager_is_no_drift_and_the_same_change_by_another_manager_is(
    kube, start_agent, policy_file, repo, tmp_path
):
    state, server = kube
    desired = deployment("web", "shop", labels={"team": "shop"})
    desired["spec"]["replicas"] = 2
    (repo / "apps" / "shop" / "web.yaml").write_text(yaml.safe_dump(desired), encoding="utf-8")
    _git(repo, "commit", "-q", "-am", "two replicas")
    config = tmp_path / "drift.yaml"
    config.write_text(
        f"targets:\n- {{repo: {repo}, revision: main, path: apps/shop, namespace: shop}}\n"
        "ignoreDifferences:\n- {group: apps, kind: Deployment, managedFieldsManagers: [hpa-controller]}\n",
        encoding="utf-8",
    )
    shop = namespace("shop", **{"leitplanke.dev/app": "checkout", "leitplanke.dev/env": "prod"})
    pdb = budget("web", "shop")
    pdb["metadata"]["managedFields"] = [_managed_by("hpa-controller", {"f:spec": {"f:maxUnavailable": {}}})]
    kubeservers.seed(state, [shop, _scaled(5, by="hpa-controller"), pdb])
    agent = start_agent(
        server,
        policy_paths=(str(policy_file),),
        packs=("none",),
        drift=drifting.load_config(config),
        drift_seconds=0.0,
    )
    assert agent.wait_for_flush()
    processor = agent.processor
    assert processor is not None

    # scaled by the ignored manager: only the budget, which Git does not hold, is drift (extra)
    assert {(r.rule, r.resource.display) for r in processor.drift[("checkout", "prod")]} == {
        ("extra", "PodDisruptionBudget/shop/web")
    }
    # kept: the rule's manager's field set of web only; none of the budget (no rule matches it)
    entries = {key[3] + "/" + key[1]: entry for key, entry in processor.inventory.entries.items()}
    assert entries["web/deployments"].document(managed_fields=True)["metadata"]["managedFields"] == [
        {"manager": "hpa-controller", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    ]
    assert entries["web/poddisruptionbudgets"].managed == b""
    assert "managedFields" not in entries["web/deployments"].document()["metadata"]

    # its Namespace's labels change: web is evaluated again from what the agent kept, field sets too
    evaluated = agent.figures.evaluations._value.get()
    state.put({**shop, "metadata": {**shop["metadata"], "labels": {**shop["metadata"]["labels"], "x": "y"}}})
    eventually(lambda: agent.figures.evaluations._value.get() == evaluated + 3)  # Namespace, web, budget
    assert agent.wait_for_flush(after=processor.completed)
    web = processor.inventory.entries[("apps", "deployments", "shop", "web")]
    assert web.document(managed_fields=True)["metadata"]["managedFields"] == [
        {"manager": "hpa-controller", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    ]
    assert {(r.rule, r.resource.display) for r in processor.drift[("checkout", "prod")]} == {
        ("extra", "PodDisruptionBudget/shop/web")
    }

    state.put(_scaled(6, by="kubectl-edit"))  # the same kind of change, by a manager no rule names

    drifted = eventually(
        lambda: [r for r in processor.drift.get(("checkout", "prod"), []) if r.rule == "drifted"]
    )
    assert [(r.resource.display, r.verdict) for r in drifted] == [("Deployment/shop/web", "fail")]
    assert [line for line in drifted[0].message.splitlines() if line.startswith(("-  ", "+  "))] == [
        "-  replicas: 2",
        "+  replicas: 6",
    ]
