"""The demo's change requests (``db seed-demo``, ``serve --demo``): prod under change control with a
GitOps repository on disk, and a few changes in different states, one waiting for bob's approval.

Called by ``cli.db.seed_demo`` after the catalog; each change goes through the real use cases
(propose, approve, apply into a bare repository, an Argo CD event), so the audit trail has them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from leitplanke import catalog, engine
from leitplanke.catalog import changecontrols
from leitplanke.delivery import approvals, changes, deliveryevents, deployments, gitops, gitrepos, proposing
from leitplanke.store import changerecords
from leitplanke.store.databases import Database

ALICE = proposing.Author(actor="user:alice (demo)", subject="user:alice")  # developer of team-platform
BOB = approvals.Approver(actor="user:bob (demo)", subject="user:bob", team="team-platform")
APPLIER = gitops.Applier(actor="user:carol (demo)", subject="user:carol", may_override=True)


@dataclass(frozen=True, slots=True)
class Seeded:
    repository: Path
    changes: dict[str, int]  # state → change id


def prod_control(repository: Path) -> changecontrols.ChangeControl:
    """One approver of the owning team (not the author), approvals valid 72 h; no sync windows, so that
    a newcomer's change can be applied on any day (examples/changecontrol shows windows)."""
    value = {
        "approvals": {"required": 1, "expiresAfter": "72h"},
        "gitops": {"repository": str(repository), "branch": "main", "path": "envs/prod"},
    }
    control, wrong = changecontrols.parse_change_control(value, where="changeControl")
    assert wrong == [], wrong  # the demo's own
    return control


def release(template: str, *, app: str, version: str) -> str:
    """The examples' compliant Deployment as ``app`` at ``version`` (it passes every default pack)."""
    return template.replace("storefront", app).replace('"2.4.1"', f'"{version}"')


def seed_changes(
    database: Database,
    *,
    policy_set: engine.PolicySet,
    template: str,
    data_dir: Path,
    now: datetime,
) -> Seeded | None:
    """prod's change control and four changes: deployed, rejected, waiting for approval, draft. None when
    the demo has change requests already (seeding again adds nothing)."""
    with database.reading() as session:
        if changerecords.query_changes(session, changerecords.ChangeFilter(env="prod", limit=1)):
            return None
    # a new repository each time the demo database is new: one left from an earlier demo database would
    # hold commits with the same change IDs (deleting it is not the seed's business)
    repository = data_dir.resolve() / f"demo-gitops-{now:%Y%m%d%H%M%S}.git"
    if not repository.exists():
        gitrepos.init_bare(repository, branch="main")
    spec = catalog.EnvironmentSpec(
        name="prod", enforcement="enforce", requires_approval=True, change_control=prod_control(repository)
    )
    catalog.put_environment(database, spec, actor="demo", now=now)
    tools = proposing.Tools(policies=lambda: policy_set, writer=gitops.Writer(data_dir.resolve() / "gitops"))
    seeded = {}
    earlier = now - timedelta(days=2)
    deployed = _propose(database, tools, "node-agent", "1.8.0", template=template, submit=True, now=earlier)
    _approve(database, tools, deployed, now=earlier + timedelta(hours=1))
    applied = gitops.apply_change(
        database,
        tools.writer,
        deployed,
        applier=APPLIER,
        override_window=True,
        now=earlier + timedelta(hours=2),
    )
    event = deliveryevents.DeploymentEvent(
        source="argocd",
        app="node-agent",
        env="prod",
        revision=str(applied.commit_sha),
        status=deliveryevents.SUCCEEDED,
        time=earlier + timedelta(hours=2, minutes=5),
    )
    deployments.record_deployment(database, event, actor="service:argocd (demo)", now=event.time or now)
    seeded["deployed"] = deployed
    rejected = _propose(database, tools, "legacy-batch", "3.1.0", template=template, submit=True, now=earlier)
    changes.transition(
        database,
        rejected,
        event="reject",
        actor=BOB.actor,
        now=earlier + timedelta(hours=3),
        note="legacy-batch is deprecated: move the job to the reporting platform instead",
    )
    seeded["rejected"] = rejected
    seeded["submitted"] = _propose(
        database, tools, "node-agent", "1.9.0", template=template, submit=True, now=now - timedelta(hours=3)
    )
    seeded["draft"] = _propose(
        database, tools, "node-agent", "2.0.0", template=template, submit=False, now=now - timedelta(hours=1)
    )
    return Seeded(repository=repository, changes=seeded)


def _propose(
    database: Database,
    tools: proposing.Tools,
    app: str,
    version: str,
    *,
    template: str,
    submit: bool,
    now: datetime,
) -> int:
    proposal = proposing.Proposal(
        app=app, env="prod", title=f"{app} {version}", manifests=release(template, app=app, version=version)
    )
    view = proposing.create_change(database, tools, proposal, author=ALICE, now=now)
    if submit:
        changes.transition(
            database, view.id, event="submit", actor=ALICE.actor, now=now, author_only=ALICE.subject
        )
    return view.id


def _approve(database: Database, tools: proposing.Tools, change_id: int, *, now: datetime) -> None:
    view = changes.get_change(database, change_id, now=now)
    diff_hash, blocking = proposing.recheck(database, tools, view, now=now)
    approvals.approve_change(
        database, change_id, approver=BOB, diff_hash=diff_hash, preflight_blocking=blocking, now=now
    )
