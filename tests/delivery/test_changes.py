"""Change requests on SQLite and PostgreSQL with a real Git remote: proposed with a diff, its hash and a
pre-flight; approved by others than the author under the environment's rules; committed and pushed as
the author; marked deployed by commit; rolled back by a new change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from changeflows import ALICE, BOB, CAROL, SECURITY, T0, apply, approve, git, manifests, propose, put_env

from leitplanke.delivery import changes, gitops, proposing
from leitplanke.governance import auditing, errors, waivers
from leitplanke.store import auditrecords


def _actions(database: Any, target: str) -> list[str]:
    with database.reading() as session:
        return [r.action for r in auditrecords.iter_audit_records(session) if r.target == target]


def test_the_transition_table_is_the_whole_lifecycle() -> None:
    assert dict(changes.TRANSITIONS) == {
        ("draft", "edit"): "draft",
        ("draft", "submit"): "submitted",
        ("draft", "cancel"): "cancelled",
        ("submitted", "edit"): "submitted",
        ("submitted", "approval"): "submitted",
        ("submitted", "approve"): "approved",
        ("submitted", "reject"): "rejected",
        ("submitted", "cancel"): "cancelled",
        ("approved", "edit"): "submitted",
        ("approved", "reject"): "rejected",
        ("approved", "apply"): "applied",
        ("approved", "expire"): "expired",
        ("approved", "cancel"): "cancelled",
        ("applied", "deploy"): "deployed",
        ("applied", "fail"): "failed",
        ("failed", "deploy"): "deployed",
    }
    with pytest.raises(errors.Conflict, match="a change that is applied cannot apply"):
        changes.next_status("applied", event="apply")


def test_a_proposed_change_records_its_diff_against_git_its_hash_and_the_preflight(setup: Any) -> None:
    view = propose(setup, manifests("1.0"), now=T0)
    assert view.status == "submitted"
    assert view.diff.splitlines()[:3] == [
        "--- a/envs/prod/checkout.yaml",
        "+++ b/envs/prod/checkout.yaml",
        "@@ -0,0 +1,10 @@",
    ]
    assert view.diff_hash == gitops.hash_diff(view.diff)
    assert view.preflight == {
        "mode": "enforce",
        "failureMode": "closed",
        "blocking": False,
        "documents": 1,
        "results": [],
        "passed": 1,
        "problems": [],
        "touchedKinds": ["Deployment"],
    }
    assert _actions(setup.database, f"change:{view.id}") == ["change.create", "change.submit"]


def test_an_approved_change_is_committed_as_its_author_by_leitplanke_with_id_approvers_and_sign_off(
    setup: Any,
) -> None:
    view = propose(setup, manifests("1.0"), now=T0)
    approved = approve(setup, view, BOB, now=T0 + timedelta(minutes=5))
    assert (approved.status, approved.approved_hash) == ("approved", view.diff_hash)
    applied = apply(setup, view, now=T0 + timedelta(minutes=10))
    assert applied.status == "applied"
    sha = applied.commit_sha
    assert sha == git("rev-parse", "main", cwd=setup.remote).strip()
    assert git("show", f"{sha}:envs/prod/checkout.yaml", cwd=setup.remote) == manifests("1.0")
    who = git("log", "-1", "--format=%an <%ae>|%cn <%ce>", sha, cwd=setup.remote).strip()
    assert who == "alice@example.com <alice@example.com>|leitplanke <leitplanke@leitplanke.invalid>"
    assert git("log", "-1", "--format=%B", sha, cwd=setup.remote).strip().splitlines() == [
        f"change {view.id}: checkout release",
        "",
        f"leitplanke change {view.id} of checkout in prod, diff {view.diff_hash[:12]}.",
        "",
        f"Change-Id: leitplanke-change-{view.id}",
        "Approved-by: user:bob@example.com (team-shop)",
        "Signed-off-by: leitplanke <leitplanke@leitplanke.invalid>",
    ]
    assert _actions(setup.database, f"change:{view.id}") == [
        "change.create",
        "change.submit",
        "change.approve",
        "change.apply",
    ]
    assert (
        changes.mark_deployed(setup.database, sha, actor="argocd", now=T0 + timedelta(minutes=12)).status
        == "deployed"
    )  # type: ignore[union-attr]
    # the same deployment event again changes nothing; an unknown commit is no change of ours
    assert (
        changes.mark_deployed(setup.database, sha, actor="argocd", now=T0 + timedelta(minutes=13)).status
        == "deployed"
    )  # type: ignore[union-attr]
    assert changes.mark_deployed(setup.database, "0" * 40, actor="argocd", now=T0) is None
    with pytest.raises(errors.Conflict, match="is deployed: it cannot be marked failed"):
        changes.mark_failed(setup.database, sha, actor="argocd", now=T0)


def test_the_author_cannot_approve_and_nobody_approves_twice(setup: Any) -> None:
    view = propose(setup, manifests("1.0"), now=T0)
    author = proposing_author_as_approver()
    with pytest.raises(errors.Forbidden, match=r"user:alice@example\.com is the author of change"):
        approve(setup, view, author, now=T0)
    setup_required(setup, 2)
    approve(setup, view, BOB, now=T0)
    with pytest.raises(errors.Conflict, match=r"user:bob@example\.com approved change \d+ already"):
        approve(setup, view, BOB, now=T0)
    assert approve(setup, view, CAROL, now=T0).status == "approved"


def proposing_author_as_approver() -> Any:
    from leitplanke.delivery import approvals

    return approvals.Approver(actor=ALICE.actor, subject=ALICE.subject, team="team-shop")


def setup_required(setup: Any, required: int) -> None:
    put_env(
        setup.database,
        "prod",
        "enforce",
        {
            "approvals": {"required": required, "expiresAfter": "8h", "secondTeam": "team-security"},
            "gitops": {"repository": str(setup.remote), "branch": "main", "path": "envs/prod"},
        },
    )


def test_a_change_of_rbac_kinds_needs_the_security_team_as_well(setup: Any) -> None:
    view = propose(setup, manifests("1.0", role=True), now=T0)
    assert view.preflight["touchedKinds"] == ["Deployment", "Role"]
    assert approve(setup, view, BOB, now=T0).status == "submitted"
    assert approve(setup, view, SECURITY, now=T0).status == "approved"


def test_an_edit_voids_the_approvals_and_an_approval_expires(setup: Any) -> None:
    view = propose(setup, manifests("1.0"), now=T0)
    assert approve(setup, view, BOB, now=T0).status == "approved"
    edited = proposing.edit_change(
        setup.database, setup.tools, view.id, manifests=manifests("1.1"), waiver=None, author=ALICE, now=T0
    )
    assert (edited.status, edited.approved_hash) == ("submitted", None)
    assert [(a.approver_subject, a.counts) for a in edited.approvals] == [("user:bob@example.com", False)]
    assert approve(setup, view, BOB, now=T0).status == "approved"  # the new diff, approved again
    with pytest.raises(errors.Conflict, match=r"approvals of change \d+ expired"):
        apply(setup, view, now=T0 + timedelta(hours=8))
    assert changes.get_change(setup.database, view.id, now=T0).status == "expired"


def test_a_change_failing_its_preflight_at_enforce_is_approved_only_under_a_waiver(setup: Any) -> None:
    view = propose(setup, manifests("1.0", privileged=True), now=T0)
    assert view.preflight_blocking is True
    assert [(r["policy"], r["verdict"], r["message"]) for r in view.preflight["results"]] == [
        ("disallow-privileged", "fail", "container app is privileged")
    ]
    with pytest.raises(errors.Conflict, match="fails its pre-flight at enforce"):
        approve(setup, view, BOB, now=T0)
    request = waivers.WaiverRequest(
        app="checkout",
        env="prod",
        policies=("disallow-privileged",),
        resources=(waivers.ResourceRef("Deployment", "checkout", "shop"),),
        justification="the agent needs the host",
        expires=T0 + timedelta(days=30),
    )
    waiver = waivers.request_waiver(
        setup.database, request, actor="dev", now=T0, max_days=90, subject="user:dev"
    )
    waivers.decide_waiver(
        setup.database, waiver.id, approve=True, note="", actor="lead", now=T0, subject="user:lead"
    )
    waived = proposing.create_change(
        setup.database,
        setup.tools,
        proposing.Proposal(
            app="checkout", env="prod", title="privileged", manifests=view.manifests, waiver=waiver.id
        ),
        author=ALICE,
        now=T0,
    )
    assert waived.preflight_blocking is False
    assert [r["waiver"] for r in waived.preflight["results"]] == [f"waiver-{waiver.id}"]
    changes.transition(setup.database, waived.id, event="submit", actor=ALICE.actor, now=T0)
    assert approve(setup, waived, BOB, now=T0).status == "approved"


def test_a_change_is_not_applied_twice_nor_after_git_moved_under_its_diff(setup: Any) -> None:
    first = propose(setup, manifests("1.0"), now=T0)
    second = propose(setup, manifests("2.0"), now=T0)
    approve(setup, first, BOB, now=T0)
    approve(setup, second, BOB, now=T0)
    sha = apply(setup, first, now=T0).commit_sha
    with pytest.raises(errors.Conflict, match="a change that is applied cannot apply"):
        apply(setup, first, now=T0)
    # the second change's diff was made against an empty folder: prod has moved since
    with pytest.raises(errors.Conflict, match="no longer the one approved"):
        apply(setup, second, now=T0)
    assert git("rev-list", "--count", "main", cwd=setup.remote).strip() == "1"
    assert git("rev-parse", "main", cwd=setup.remote).strip() == sha


def test_a_rollback_is_a_new_change_that_restores_the_manifests_before(setup: Any) -> None:
    first = propose(setup, manifests("1.0"), now=T0)
    approve(setup, first, BOB, now=T0)
    apply(setup, first, now=T0)
    second = propose(setup, manifests("2.0"), now=T0)
    approve(setup, second, BOB, now=T0)
    bad = apply(setup, second, now=T0)
    assert bad.commit_sha is not None
    revert = proposing.revert_change(setup.database, setup.tools, second.id, author=ALICE, now=T0)
    assert (revert.status, revert.reverts, revert.title) == (
        "draft",
        second.id,
        f"Revert change {second.id}: checkout release",
    )
    assert revert.manifests == manifests("1.0")
    changes.transition(setup.database, revert.id, event="submit", actor=ALICE.actor, now=T0)
    approve(setup, revert, CAROL, now=T0)
    done = apply(setup, revert, now=T0)
    assert git("show", f"{done.commit_sha}:envs/prod/checkout.yaml", cwd=setup.remote) == manifests("1.0")
    assert auditing.format_time(done.applied_at) == auditing.format_time(T0)  # type: ignore[arg-type]


def test_an_approved_change_whose_approvals_lapsed_is_expired_by_the_sweep(setup: Any) -> None:
    from leitplanke.delivery import approvals

    kept = propose(setup, manifests("1.0"), now=T0)
    lapsing = propose(setup, manifests("2.0"), now=T0)
    approve(setup, lapsing, BOB, now=T0)
    approve(setup, kept, BOB, now=T0 + timedelta(hours=4))
    assert approvals.expire_lapsed(setup.database, now=T0 + timedelta(hours=8)) == [lapsing.id]
    statuses = [changes.get_change(setup.database, v.id, now=T0).status for v in (kept, lapsing)]
    assert statuses == ["approved", "expired"]


def test_in_an_environment_that_needs_no_approval_a_submitted_change_is_approved_at_once(setup: Any) -> None:
    from leitplanke import catalog
    from leitplanke.catalog import changecontrols

    control, _ = changecontrols.parse_change_control(
        {"gitops": {"repository": str(setup.remote), "branch": "main", "path": "envs/dev"}},
        where="changeControl",
    )
    spec = catalog.EnvironmentSpec(
        name="dev", enforcement="audit", requires_approval=False, change_control=control
    )
    catalog.put_environment(setup.database, spec, actor="test", now=T0)
    proposal = proposing.Proposal(app="checkout", env="dev", title="try it", manifests=manifests("9.0"))
    draft = proposing.create_change(setup.database, setup.tools, proposal, author=ALICE, now=T0)
    submitted = changes.transition(setup.database, draft.id, event="submit", actor=ALICE.actor, now=T0)
    assert (submitted.status, submitted.approved_hash, submitted.decided_by) == (
        "approved",
        draft.diff_hash,
        "system",
    )
    applied = apply(setup, draft, now=T0)
    assert git("show", f"{applied.commit_sha}:envs/dev/checkout.yaml", cwd=setup.remote) == manifests("9.0")
    assert _actions(setup.database, f"change:{draft.id}") == [
        "change.create",
        "change.submit",
        "change.approve",
        "change.apply",
    ]
