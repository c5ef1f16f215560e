"""Steps of the change flow the delivery tests share: propose, submit, approve and apply as named people."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leitplanke import catalog, engine
from leitplanke.catalog import changecontrols
from leitplanke.delivery import approvals, changes, gitops, proposing
from leitplanke.engine import loading

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin

POLICY = """\
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: disallow-privileged}
spec:
  title: Privileged containers are not allowed
  severity: critical
  match: {podSpec: true}
  rules:
  - name: no-privileged-containers
    forEach: podSpec.containers
    validate: "!item.?securityContext.?privileged.orValue(false)"
    message: "'container ' + item.name + ' is privileged'"
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  template:
    spec:
      containers:
      - name: app
        image: shop/checkout:{version}
        securityContext: {privileged: {privileged}}
"""

ROLE = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: checkout-reader, namespace: shop}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
"""


def manifests(version: str = "1.0", *, privileged: bool = False, role: bool = False) -> str:
    text = DEPLOYMENT.replace("{version}", version).replace("{privileged}", str(privileged).lower())
    return text + (ROLE if role else "")


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def build_policy_set() -> engine.PolicySet:
    loaded = loading.load_text(POLICY, file="policy.yaml", now=T0)
    assert loaded.problems == []
    return engine.compile(loaded.policies)


def put_env(database: Any, name: str, enforcement: str, control: dict[str, Any]) -> None:
    parsed, problems = changecontrols.parse_change_control(control, where="changeControl")
    assert problems == []
    spec = catalog.EnvironmentSpec(
        name=name, enforcement=enforcement, requires_approval=True, change_control=parsed
    )
    catalog.put_environment(database, spec, actor="test", now=T0)


ALICE = proposing.Author(
    actor="user:alice via token:a", subject="user:alice@example.com"
)  # team-shop developer
BOB = approvals.Approver(actor="user:bob via token:b", subject="user:bob@example.com", team="team-shop")
CAROL = approvals.Approver(actor="user:carol via token:c", subject="user:carol@example.com", team="team-shop")
SECURITY = approvals.Approver(
    actor="user:sam via token:s", subject="user:sam@example.com", team="team-security"
)
APPLIER = gitops.Applier(actor="user:alice via token:a", subject="user:alice@example.com", may_override=False)


def propose(
    setup: Any, text: str, *, now: datetime, app: str = "checkout", waiver: int | None = None
) -> changes.ChangeView:
    proposal = proposing.Proposal(app=app, env="prod", title=f"{app} release", manifests=text, waiver=waiver)
    view = proposing.create_change(setup.database, setup.tools, proposal, author=ALICE, now=now)
    return changes.transition(
        setup.database, view.id, event="submit", actor=ALICE.actor, now=now, author_only=ALICE.subject
    )


def approve(
    setup: Any, view: changes.ChangeView, approver: approvals.Approver, *, now: datetime
) -> changes.ChangeView:
    current = changes.get_change(setup.database, view.id, now=now)
    diff_hash, blocking = proposing.recheck(setup.database, setup.tools, current, now=now)
    return approvals.approve_change(
        setup.database, view.id, approver=approver, diff_hash=diff_hash, preflight_blocking=blocking, now=now
    )


def apply(
    setup: Any,
    view: changes.ChangeView,
    *,
    now: datetime,
    applier: gitops.Applier = APPLIER,
    override: bool = False,
) -> changes.ChangeView:
    return gitops.apply_change(
        setup.database, setup.tools.writer, view.id, applier=applier, override_window=override, now=now
    )


def apply_in_process(url: str, root: str, change_id: int, now: datetime) -> str:
    """Apply ``change_id`` in a process of its own (spawned: nothing shared but the database, the
    working copies' folder and the audit keys named by the environment); the commit."""
    import os

    from leitplanke.governance import auditkeys
    from leitplanke.store import databases

    keys = auditkeys.load_audit_keys(
        key_file=Path(os.environ["LEITPLANKE_AUDIT_KEY_FILE"]),
        signing_key_file=Path(os.environ["LEITPLANKE_AUDIT_SIGNING_KEY_FILE"]),
        checkpoint_dir=Path(os.environ["LEITPLANKE_AUDIT_CHECKPOINT_DIR"]),
    )
    database = databases.Database(url, audit=keys)
    try:
        view = gitops.apply_change(database, gitops.Writer(Path(root)), change_id, applier=APPLIER, now=now)
    finally:
        database.dispose()
    return str(view.commit_sha)
