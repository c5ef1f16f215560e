"""Done means: from an empty test API server to complete PolicyReports and findings uploaded to a real
``leitplanke serve`` (on SQLite and on PostgreSQL), then a change that fixes an object → its result passes and its
finding is fixed; an agent restarted on the same state directory sends nothing the service has already."""

from __future__ import annotations

import http.client
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubeservers
import pytest
from sqlalchemy import create_engine, text

import leitplanke
from conftest import deployment, eventually, report_rows, small_cluster
from leitplanke import catalog
from leitplanke.governance import access
from leitplanke.store import databases

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
import serviceprocesses

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])


class Service:
    def __init__(self, port: int, token: str, url: str) -> None:
        self.port, self.token, self.database_url = port, token, url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def findings(self) -> set[tuple[str, str, str, str, str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(
            "GET", "/api/v1/findings?app=checkout", headers={"Authorization": f"Bearer {self.token}"}
        )
        page: dict[str, Any] = json.loads(connection.getresponse().read())
        return {
            (
                f["policy"],
                f["rule"],
                f["resource"]["kind"],
                f["resource"]["namespace"],
                f["resource"]["name"],
                f["status"],
            )
            for f in page["items"]
        }

    def scans(self) -> list[tuple[str, str]]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return [
                    tuple(row)
                    for row in connection.execute(text("SELECT actor, summary FROM scans ORDER BY id"))
                ]
        finally:
            engine.dispose()


@pytest.fixture
def service(tmp_path: Path, catalog_yaml: str, audit_keys: object, database_url: str) -> Iterator[Service]:
    """``leitplanke serve`` on SQLite and on PostgreSQL with the test catalog and a developer token of team-shop."""
    url = database_url
    database = databases.Database(url, audit=audit_keys)
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
        "LEITPLANKE_DATABASE_URL": url,
        "LEITPLANKE_DATA_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }
    with serviceprocesses.serving(
        [LEITPLANKE, "serve", "--port", str(port)], port=port, cwd=tmp_path, env=env
    ):
        yield Service(port, token.token, url)


def test_an_empty_cluster_becomes_reports_and_findings_and_a_fix_makes_the_finding_fixed(
    kube, start_agent, policy_file, service, tmp_path
):
    state, server = kube
    kubeservers.seed(state, [])
    options = {
        "policy_paths": (str(policy_file),),
        "packs": ("none",),
        "service_url": service.url,
        "token": service.token,
        "state_dir": tmp_path / "agent-state",
    }
    agent = start_agent(server, **options)
    assert agent.wait_for_flush()
    for obj in small_cluster():
        state.put(obj)

    eventually(lambda: len(service.findings()) == 3, timeout=60)
    # new, or open when the objects came in more than one upload (every flush uploads in this test)
    assert {(*f[:5], "new" if f[5] == "open" else f[5]) for f in service.findings()} == {
        ("require-team-label", "team-label", "Deployment", "shop", "web", "new"),
        ("require-budget", "budget", "Deployment", "shop", "web", "new"),
        ("require-budget", "budget", "Deployment", "shop", "api", "new"),
    }
    assert report_rows(state, ns="shop") >= {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "fail"),
    }

    state.put(deployment("web", "shop", labels={"team": "shop"}))

    eventually(
        lambda: (
            ("require-team-label", "team-label", "Deployment", "shop", "web", "fixed") in service.findings()
        )
    )
    assert service.findings() == {
        ("require-team-label", "team-label", "Deployment", "shop", "web", "fixed"),
        ("require-budget", "budget", "Deployment", "shop", "web", "open"),
        ("require-budget", "budget", "Deployment", "shop", "api", "open"),
    }
    assert ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "pass") in report_rows(
        state, ns="shop"
    )
    scans = service.scans()
    # a JSON column: text on SQLite, a dict from PostgreSQL
    assert {(json.loads(s) if isinstance(s, str) else s)["cluster"] for _, s in scans} == {"test"}

    agent.stop()  # a restart: the same state directory, the same cluster
    again = start_agent(server, **options)
    assert again.wait_for_flush()
    assert len(service.scans()) == len(scans)  # nothing sent twice
    assert again.figures.uploads.labels("accepted")._value.get() == 0


def test_a_scope_whose_objects_all_disappear_gets_its_findings_fixed(
    kube, start_agent, policy_file, service, tmp_path
):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    options = {
        "policy_paths": (str(policy_file),),
        "packs": ("none",),
        "service_url": service.url,
        "token": service.token,
        "state_dir": tmp_path / "agent-state",
    }
    start_agent(server, **options).wait_for_flush()
    assert len(service.findings()) == 3

    state.remove("apps/v1", "Deployment", "shop", "web")
    state.remove("apps/v1", "Deployment", "shop", "api")

    eventually(lambda: {f[-1] for f in service.findings()} == {"fixed"})


def test_an_object_without_the_app_label_belongs_to_the_catalog_app_its_part_of_label_names(
    kube, start_agent, policy_file, service, tmp_path
):
    from leitplanke.agent import processing

    state, server = kube
    kubeservers.seed(
        state,
        [
            deployment("cart", "misc", labels={"app.kubernetes.io/part-of": "checkout"}),
            deployment("other", "misc", labels={"app.kubernetes.io/part-of": "not-in-the-catalog"}),
        ],
    )
    agent = start_agent(
        server,
        policy_paths=(str(policy_file),),
        packs=("none",),
        service_url=service.url,
        token=service.token,
        scoping=processing.Scoping(env="prod"),
    )
    assert agent.wait_for_flush()

    assert service.findings() == {
        ("require-team-label", "team-label", "Deployment", "misc", "cart", "new"),
        ("require-budget", "budget", "Deployment", "misc", "cart", "new"),
    }
    assert report_rows(state, ns="misc") >= {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/other", "fail"),
    }
