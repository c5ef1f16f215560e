"""The demo's change requests: prod under change control with a GitOps repository on disk, one change in
each of deployed, rejected, submitted (waiting for bob of team-platform) and draft; seeding again adds
nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from changeflows import git

from leitplanke import catalog
from leitplanke.cli import db, demochanges, gathering
from leitplanke.delivery import approvals, changes, proposing
from leitplanke.store import changerecords

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # a Monday
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_demo_has_changes_in_four_states_and_one_waits_for_bob(database: Any, tmp_path: Path) -> None:
    parsed, problems = catalog.parse_catalog(db.DEMO_CATALOG)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=NOW)
    gathered = gathering.gather(policy_paths=[], packs=[], waiver_paths=[], config_path=None, now=NOW)
    policy_set = gathering.compile_gathered(gathered)
    template = (EXAMPLES / "good" / "deployment.yaml").read_text(encoding="utf-8")
    seed = {"policy_set": policy_set, "template": template, "data_dir": tmp_path, "now": NOW}
    seeded = demochanges.seed_changes(database, **seed)
    assert seeded is not None
    assert seeded.changes == {"deployed": 1, "rejected": 2, "submitted": 3, "draft": 4}
    listed = changes.list_changes(database, changerecords.ChangeFilter(env="prod"), now=NOW)
    assert [(c.id, c.app, c.status, c.title, c.author_subject, c.preflight_blocking) for c in listed] == [
        (1, "node-agent", "deployed", "node-agent 1.8.0", "user:alice", False),
        (2, "legacy-batch", "rejected", "legacy-batch 3.1.0", "user:alice", False),
        (3, "node-agent", "submitted", "node-agent 1.9.0", "user:alice", False),
        (4, "node-agent", "draft", "node-agent 2.0.0", "user:alice", False),
    ]
    sha = git("rev-parse", "main", cwd=seeded.repository).strip()
    assert listed[0].commit_sha == sha
    assert git("show", f"{sha}:envs/prod/node-agent.yaml", cwd=seeded.repository) == demochanges.release(
        template, app="node-agent", version="1.8.0"
    )
    # the waiting one: its diff is against what change 1 committed; bob approves it (the portal's inbox)
    changed = [line for line in listed[2].diff.splitlines()[2:] if line[:1] in "+-"]
    assert changed == ['-    app.kubernetes.io/version: "1.8.0"', '+    app.kubernetes.io/version: "1.9.0"']
    tools = proposing.Tools(
        policies=lambda: policy_set, writer=demochanges.gitops.Writer(tmp_path / "gitops")
    )
    diff_hash, blocking = proposing.recheck(database, tools, listed[2], now=NOW)
    approved = approvals.approve_change(
        database, 3, approver=demochanges.BOB, diff_hash=diff_hash, preflight_blocking=blocking, now=NOW
    )
    assert approved.status == "approved"
    shown = {env["name"]: env for env in catalog.snapshot(database)["environments"]}
    assert shown["prod"]["changeControl"]["gitops"] == {
        "repository": str(tmp_path.resolve() / "demo-gitops-20261207120000.git"),
        "branch": "main",
        "path": "envs/prod",
    }
    assert demochanges.seed_changes(database, **seed) is None
