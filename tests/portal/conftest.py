"""The portal in-process (FastAPI's TestClient over https, so that the Secure cookie is sent back) over
the test database (SQLite and PostgreSQL), with portal users of each kind and findings of two teams.

Hostile values are stored on purpose: an app named like markup, a policy message and a resource name
with markup, so that every page that shows them is checked to escape them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portalpages import NOW, PASSWORD, T_SCAN, USERS, XSS, XSS_APP, Portal, failure, ingest, shop_results

from leitplanke import catalog
from leitplanke.catalog import changecontrols
from leitplanke.delivery import gitops
from leitplanke.governance import access, portalusers
from leitplanke.service import changing, create_app
from leitplanke.settings import Settings

# the browser test starts a real serve with the helper of tests/service
sys.path.append(str(Path(__file__).resolve().parents[1] / "service"))


@pytest.fixture
def portal(catalog_database: Any) -> Iterator[Portal]:
    database = catalog_database
    catalog.put_app(
        database, catalog.AppSpec(name=XSS_APP, owner="team-shop", value_stream=XSS), actor="test", now=T_SCAN
    )
    for login, (role, team) in USERS.items():
        portalusers.put_user(
            database, login=login, password=PASSWORD, role=role, team=team, actor="test", now=T_SCAN
        )
    ingest(database, "checkout", shop_results())
    ingest(
        database, "warehouse", [failure("disallow-privileged", "no-privileged", "loader", namespace="data")]
    )
    ingest(database, XSS_APP, [failure("disallow-privileged", "no-privileged", "web", severity="high")])
    token = access.create_token(
        database,
        subject="user:ci-shop",
        name="ci",
        role="developer",
        team="team-shop",
        actor="test",
        now=T_SCAN,
    ).token
    app = create_app(
        Settings(database_url=database.url, migrate_on_start=False), database=database, clock=lambda: NOW
    )
    with TestClient(app, base_url="https://testserver") as client:
        yield Portal(client=client, database=database, token=token)


@pytest.fixture
def library(portal: Portal, tmp_path: Path) -> Portal:
    """``portal`` with prod under change control (one approval) into a bare Git repository."""
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True)
    control, problems = changecontrols.parse_change_control(
        {
            "approvals": {"required": 1},
            "gitops": {"repository": str(remote), "branch": "main", "path": "prod"},
        },
        where="changeControl",
    )
    assert problems == []
    spec = catalog.EnvironmentSpec(
        name="prod", enforcement="enforce", requires_approval=True, change_control=control
    )
    catalog.put_environment(portal.database, spec, actor="test", now=NOW)
    portal.client.app.state.changes = changing.ChangeTools(writer=gitops.Writer(tmp_path / "work"))  # type: ignore[attr-defined]
    return portal
