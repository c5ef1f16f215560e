"""A Backstage-like catalog file becomes teams, apps and environments; applying it twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leitplanke import catalog
from leitplanke.core.problems import Problem

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECOND_TEAM_KINDS = [
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "NetworkPolicy",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
]
# an environment whose catalog entry names no changeControl: the defaults, as GET /environments shows them
DEFAULT_CONTROL = {
    "approvals": {
        "required": 1,
        "expiresAfter": "24h",
        "secondTeam": "",
        "secondTeamKinds": SECOND_TEAM_KINDS,
    },
    "syncWindows": [],
    "failureMode": "closed",
    "gitops": None,
}


def test_the_catalog_file_is_read_into_teams_apps_and_environments(catalog_database: Any) -> None:
    snapshot = catalog.snapshot(catalog_database)
    assert snapshot == {
        "teams": [{"name": "team-data", "title": ""}, {"name": "team-shop", "title": "Shop"}],
        "apps": [
            {
                "name": "checkout",
                "owner": "team-shop",
                "valueStream": "commerce",
                "lifecycle": "production",
                "cloudNative": True,
                "repository": "https://git.example.com/shop/checkout",
            },
            {
                "name": "warehouse",
                "owner": "team-data",
                "valueStream": "logistics",
                "lifecycle": "experimental",
                "cloudNative": False,
                "repository": "",
            },
        ],
        "environments": [
            {
                "name": "dev",
                "enforcement": "audit",
                "requiresApproval": False,
                "changeControl": DEFAULT_CONTROL,
            },
            {
                "name": "prod",
                "enforcement": "enforce",
                "requiresApproval": True,
                "changeControl": DEFAULT_CONTROL,
            },
        ],
    }


def test_applying_the_same_catalog_again_changes_nothing(catalog_database: Any, catalog_yaml: str) -> None:
    parsed, _ = catalog.parse_catalog(catalog_yaml)
    assert catalog.apply_catalog(catalog_database, parsed, actor="t", now=T0) == catalog.Applied(0, 0, 6)


def test_every_mistake_in_a_catalog_file_is_reported_with_its_field() -> None:
    text = """\
kind: Component
metadata: {name: a}
spec: {}
---
kind: Environment
metadata: {name: e}
spec: {enforcement: block}
---
kind: Gadget
metadata: {name: g}
---
kind: Group
metadata: {}
"""
    parsed, problems = catalog.parse_catalog(text, file="c.yaml")
    assert parsed == catalog.Catalog()
    assert problems == [
        Problem("c.yaml", 0, "catalog-owner", "spec.owner is required", "[0].spec.owner"),
        Problem("c.yaml", 0, "catalog-enforcement", "use audit, warn or enforce", "[1].spec.enforcement"),
        Problem("c.yaml", 0, "catalog-kind", "unknown kind 'Gadget'", "[2].kind"),
        Problem("c.yaml", 0, "catalog-name", "metadata.name is required", "[3].metadata.name"),
    ]


def test_the_catalog_package_offers_its_use_cases_and_values_by_name() -> None:
    assert catalog.__all__ == [
        "ENFORCEMENT_MODES",
        "AppSpec",
        "Applied",
        "Catalog",
        "EnvironmentSpec",
        "TeamSpec",
        "apply_catalog",
        "owner_of",
        "parse_catalog",
        "put_app",
        "put_environment",
        "put_team",
        "snapshot",
    ]
    assert [name for name in catalog.__all__ if not hasattr(catalog, name)] == []
