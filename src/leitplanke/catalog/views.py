"""The read side of the catalog: who owns an app, and every entity as plain values.

Called by the service (routes, uploads, waivers) and the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leitplanke.catalog import changecontrols
from leitplanke.store import repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import App


def owner_of(database: Database, app: str) -> str | None:
    """The owning team of ``app``, or None when the catalog does not know it."""
    with database.reading() as session:
        return repositories.app_owner(session, app)


def snapshot(database: Database) -> dict[str, Sequence[dict[str, Any]]]:
    """Teams, apps (with their owner) and environments as plain values, for the API and the CLI."""
    with database.reading() as session:
        return {
            "teams": [{"name": t.name, "title": t.title} for t in repositories.list_teams(session)],
            "apps": [_app_dict(app, team) for app, team in repositories.list_apps(session)],
            "environments": [
                {
                    "name": e.name,
                    "enforcement": e.enforcement,
                    "requiresApproval": e.requires_approval,
                    # the stored form, defaults filled in: what a PUT that names no changeControl keeps
                    "changeControl": changecontrols.from_stored(e.change_control).as_dict(),
                }
                for e in repositories.list_environments(session)
            ],
        }


def _app_dict(app: App, team: str) -> dict[str, Any]:
    return {
        "name": app.name,
        "owner": team,
        "valueStream": app.value_stream,
        "lifecycle": app.lifecycle,
        "cloudNative": app.cloud_native,
        "repository": app.repository,
    }
