"""``leitplanke db upgrade|seed-demo``: migrate the database; load a demo catalog, scans and a token."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leitplanke.cli import servicecommands

if TYPE_CHECKING:
    from datetime import datetime

    from leitplanke.store import databases

DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", help="Database URL (default: LEITPLANKE_DATABASE_URL or ./data SQLite)."),
]

DEMO_CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-shop, title: Shop}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-platform, title: Platform}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations: {leitplanke.dev/cloud-native: "true", backstage.io/source-location: "url:https://git.example.com/shop/checkout"}
spec: {type: service, owner: team-shop, system: commerce, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: node-agent
  annotations: {leitplanke.dev/cloud-native: "true"}
spec: {type: service, owner: team-platform, system: observability, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: legacy-batch
  annotations: {leitplanke.dev/cloud-native: "false"}
spec: {type: service, owner: team-platform, system: reporting, lifecycle: deprecated}
---
apiVersion: leitplanke.dev/v1
kind: Environment
metadata: {name: dev}
spec: {enforcement: audit, requiresApproval: false}
---
apiVersion: leitplanke.dev/v1
kind: Environment
metadata: {name: prod}
spec: {enforcement: enforce, requiresApproval: true}
"""
# (app, environment, examples folder): what the demo scans
DEMO_SCANS = (
    ("checkout", "dev", "good"),
    ("checkout", "prod", "good"),
    ("node-agent", "dev", "bad"),
    ("node-agent", "prod", "bad"),
    ("legacy-batch", "prod", "bad"),
)


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="The governance database: migrations and demo data.")
    app.command("upgrade")(upgrade_command)
    app.command("seed-demo")(seed_demo_command)
    return app


def upgrade_command(database: DatabaseOpt = None) -> None:
    """Migrate the database to the newest schema (also done when the service starts)."""
    from leitplanke.store import databases

    db = servicecommands.open_database(database, migrate=False)
    databases.upgrade(db)
    typer.echo(f"database at revision {databases.current_revision(db)}")


def seed_demo_command(
    database: DatabaseOpt = None,
    examples: Annotated[str, typer.Option("--examples", help="The bundled examples folder.")] = "examples",
) -> None:
    """Load the demo catalog (2 teams, 3 apps, dev, prod), three weeks of scans of the
    examples, runtime findings of generated series, four weeks of deployments and incidents in prod and
    a few change requests (one waiting for bob's approval); print an admin token and the portal's demo
    users."""
    opened = servicecommands.open_database(database)
    token = seed_demo(opened, examples=Path(examples))
    typer.echo(f"platform-admin token (shown once): {token}")
    for line in demo_user_lines(seed_portal_users(opened)):
        typer.echo(line)


def seed_demo(database: databases.Database, *, examples: Path, data_dir: Path | None = None) -> str:
    """Apply the demo catalog (dev committing changes to a Git repository under ``data_dir``, by default
    the settings'), ingest scans of ``examples/good`` and ``examples/bad`` (and a history of them in which
    a policy recurs), the leak detector's findings of generated series, four weeks of delivery history
    and a few change requests in prod (``demochanges``, with prod's change control); the admin token."""
    from leitplanke import catalog
    from leitplanke.cli import demochanges, gathering, scan
    from leitplanke.governance import access, findings
    from leitplanke.insights import demoseeding
    from leitplanke.settings import load_settings

    now = servicecommands.now()
    parsed, problems = catalog.parse_catalog(DEMO_CATALOG, file="<demo>")
    assert not problems, problems  # the demo catalog is ours
    # the catalog as of four weeks ago: the scan history below begins three weeks ago
    catalog.apply_catalog(database, parsed, actor="demo", now=now - timedelta(days=DEMO_HISTORY_DAYS))
    data = data_dir if data_dir is not None else load_settings().data_dir
    put_demo_change_control(database, gitops=data / "demo-gitops.git")
    gathered = gathering.gather(policy_paths=[], packs=[], waiver_paths=[], config_path=None, now=now)
    policy_set = gathering.compile_gathered(gathered)
    sla_days = load_settings().sla_days
    reports = {}
    for folder in sorted({folder for _, _, folder in DEMO_SCANS}):
        reports[folder] = scan.run_scan(
            [str(examples / folder)],
            policy_set=policy_set,
            waivers=gathered.waivers,
            now=now,
            jobs=1,
            helm_values=[],
            helm_set=[],
        )
    history = {app: reports["bad"].results for app in DEMO_RECURRING_APPS}
    demoseeding.seed_scan_history(database, results=history, env="prod", now=now, sla_days=sla_days)
    typer.echo(f"scan history: {demoseeding.RECURRING_POLICY} fixed and failing again", err=True)
    for app, env, folder in DEMO_SCANS:
        outcome = findings.ingest_scan(
            database,
            app=app,
            env=env,
            results=reports[folder].results,
            summary={},
            generated_at="",
            actor="demo",
            now=now,
            sla_days=sla_days,
        )
        typer.echo(f"scan of {folder}/ as {app} in {env}: {outcome.findings} findings", err=True)
    runtime, _ = demoseeding.seed_runtime(database, now=now, sla_days=sla_days)
    typer.echo(f"runtime findings of the generated series: {len(runtime)}", err=True)
    _seed_delivery_history(database, now=now)
    seeded = demochanges.seed_changes(
        database,
        policy_set=policy_set,
        template=(examples / "good" / "deployment.yaml").read_text(encoding="utf-8"),
        data_dir=data_dir or load_settings().data_dir,  # the service's: its writer finds the same copies
        now=now,
    )
    if seeded is not None:
        states = ", ".join(f"{change} {state}" for state, change in seeded.changes.items())
        typer.echo(f"change requests in prod (GitOps repository {seeded.repository}): {states}", err=True)
    created = access.create_token(
        database,
        subject="user:demo-admin",
        name=f"demo-admin-{now:%Y%m%d%H%M%S%f}",  # names are unique per subject: seeding again works
        role="platform-admin",
        team=None,
        actor="demo",
        now=now,
    )
    return created.token


def put_demo_change_control(database: databases.Database, *, gitops: Path) -> None:
    """dev under change control (one approval, four eyes), committed to ``gitops``: a bare Git
    repository created there when there is none. prod's is set with its changes (``demochanges``)."""
    from leitplanke import catalog
    from leitplanke.catalog import changecontrols
    from leitplanke.delivery import gitrepos

    gitrepos.init_bare(gitops)
    for name, enforcement, approval in (("dev", "audit", False),):
        target = {"repository": str(gitops.resolve()), "branch": "main", "path": f"envs/{name}"}
        control, problems = changecontrols.parse_change_control(
            {"approvals": {"required": 1}, "gitops": target}, where=f"{name}.changeControl"
        )
        assert not problems, problems  # the demo's settings are ours
        spec = catalog.EnvironmentSpec(
            name=name, enforcement=enforcement, requires_approval=approval, change_control=control
        )
        catalog.put_environment(database, spec, actor="demo", now=servicecommands.now())
    typer.echo(f"changes to dev are committed to the Git repository {gitops}", err=True)


# the apps whose prod scans of the last three weeks fix a policy and break it again (see seed_demo)
DEMO_RECURRING_APPS = ("checkout", "node-agent", "legacy-batch")

# (login, role, team): the portal's demo users; a developer requests waivers, an approver of the same
# team decides them (four eyes), the platform-admin reads the audit trail
DEMO_USERS = (
    ("alice", "developer", "team-platform"),
    ("bob", "approver", "team-platform"),
    ("carol", "platform-admin", None),
)


def seed_portal_users(database: databases.Database) -> list[tuple[str, str, str, str | None]]:
    """The demo users with new random passwords (seeding again gives new ones): (login, password, role,
    team) each."""
    import secrets

    from leitplanke.governance import portalusers

    now = servicecommands.now()
    created = []
    for login, role, team in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        portalusers.put_user(
            database, login=login, password=password, role=role, team=team, actor="demo", now=now
        )
        created.append((login, password, role, team))
    return created


def demo_user_lines(users: list[tuple[str, str, str, str | None]]) -> list[str]:
    return [
        f"portal user {login} / password {password}  ({role}{f' of {team}' if team else ''})"
        for login, password, role, team in users
    ]


DEMO_HISTORY_DAYS = 28


def _seed_delivery_history(database: databases.Database, *, now: datetime) -> None:
    """Four weeks of generated deployments, incidents and rollbacks in prod, ending now: ``leitplanke
    dora`` shows real numbers (``delivery.histories``; seeding again adds nothing)."""
    from leitplanke.delivery import histories

    start = now - timedelta(days=DEMO_HISTORY_DAYS)
    history = histories.build_history(
        start=start, days=DEMO_HISTORY_DAYS, seed=1, habits=histories.DEMO_HABITS
    )
    events = histories.replay(database, history, actor="demo", now=now)
    typer.echo(f"delivery history: {events} events over {DEMO_HISTORY_DAYS} days in prod", err=True)
