"""The catalog: teams, the applications they own and the environments they deploy to.

``entities`` (the values and the pure ``parse_catalog``), ``applying`` (the audited use cases that
store them) and ``views`` (the read side); the application services library: ``templatelibrary``
(golden-path templates as data) and ``scaffolding`` (validate, render, pre-flight, catalog entry).
Governance, the store and the audit chain lie below it; the service, the CLI and (next) delivery
and insights call it through the names below.
"""

from leitplanke.catalog.applying import Applied, apply_catalog, put_app, put_environment, put_team
from leitplanke.catalog.entities import (
    ENFORCEMENT_MODES,
    AppSpec,
    Catalog,
    EnvironmentSpec,
    TeamSpec,
    parse_catalog,
)
from leitplanke.catalog.views import owner_of, snapshot

__all__ = [
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
