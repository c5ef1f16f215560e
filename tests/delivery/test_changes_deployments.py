"""Change requests and delivery events linked: a deployment of a change's commit moves the change in
the same transaction, its commit starts the lead time, and a revert change deployed is a rollback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from changeflows import BOB, CAROL, T0, apply, approve, manifests, propose
from sqlalchemy import select

from leitplanke.delivery import changes, deliveryevents, deliveryviews, deployments, proposing
from leitplanke.store import auditrecords, deliveries
from leitplanke.store.deliveryrows import Deployment, DeploymentCommit


def _event(sha: str, status: str, at: datetime) -> deliveryevents.DeploymentEvent:
    return deliveryevents.DeploymentEvent(
        source="argocd", app="checkout", env="prod", revision=sha, status=status, time=at
    )


def _record(setup: Any, sha: str, status: str, at: datetime) -> deployments.Recorded:
    return deployments.record_deployment(setup.database, _event(sha, status, at), actor="argocd", now=at)


def _applied(setup: Any, version: str, *, at: datetime) -> changes.ChangeView:
    view = propose(setup, manifests(version), now=at)
    approve(setup, view, BOB, now=at)
    return apply(setup, view, now=at)


def test_a_failed_sync_fails_the_change_and_the_retried_sync_deploys_it_counting_from_its_commit(
    setup: Any,
) -> None:
    applied = _applied(setup, "1.0", at=T0)
    sha = str(applied.commit_sha)
    failed = _record(setup, sha, "failed", T0 + timedelta(minutes=10))
    assert (failed.outcome, failed.status, failed.change) == ("recorded", "failed", applied.id)
    assert changes.get_change(setup.database, applied.id, now=T0).status == "failed"
    retried = _record(setup, sha, "succeeded", T0 + timedelta(minutes=30))
    assert (retried.outcome, retried.commits, retried.change) == ("succeeded-after-failure", 1, applied.id)
    again = _record(setup, sha, "succeeded", T0 + timedelta(minutes=30))
    assert (again.outcome, again.change) == ("duplicate", None)
    view = changes.get_change(setup.database, applied.id, now=T0)
    assert (view.status, view.finished_at) == ("deployed", T0 + timedelta(minutes=30))
    with setup.database.reading() as session:
        stored = session.execute(select(DeploymentCommit.sha, DeploymentCommit.committed_at)).all()
        trail = [
            (r.action, r.details.get("to"), r.details.get("deployment"))
            for r in auditrecords.iter_audit_records(session)
            if r.target == f"change:{applied.id}" and r.action in ("change.fail", "change.deploy")
        ]
    assert [tuple(row) for row in stored] == [(sha, T0)]  # the writer's commit, dated by the clock
    assert trail == [
        ("change.fail", "failed", failed.deployment_id),
        ("change.deploy", "deployed", failed.deployment_id),
    ]
    report = deliveryviews.dora_report(
        setup.database, deliveries.Scope(app="checkout"), now=T0 + timedelta(days=1), days=1, weekly=False
    )
    assert (report.figures.deployments, report.figures.lead_time_seconds) == (1, 1800.0)


def test_a_revert_change_deployed_is_a_rollback_counted_in_the_change_failure_rate(setup: Any) -> None:
    first = _applied(setup, "1.0", at=T0)
    _record(setup, str(first.commit_sha), "succeeded", T0 + timedelta(minutes=20))
    revert = proposing.revert_change(
        setup.database,
        setup.tools,
        first.id,
        author=proposing.Author(actor="bob", subject="user:bob@x"),
        now=T0,
    )
    changes.transition(setup.database, revert.id, event="submit", actor="bob", now=T0 + timedelta(hours=1))

    approve(setup, revert, CAROL, now=T0 + timedelta(hours=1))
    reverted = apply(setup, revert, now=T0 + timedelta(hours=1))
    back = _record(setup, str(reverted.commit_sha), "succeeded", T0 + timedelta(hours=1, minutes=5))
    assert (back.outcome, back.change) == ("recorded", revert.id)
    assert changes.get_change(setup.database, revert.id, now=T0).status == "deployed"
    with setup.database.reading() as session:
        rows = session.scalars(select(Deployment).order_by(Deployment.id)).all()
        shown = [(r.revision, r.rollback, r.rolled_back_at) for r in rows]
    assert shown == [
        (first.commit_sha, False, T0 + timedelta(hours=1, minutes=5)),
        (reverted.commit_sha, True, None),
    ]
    report = deliveryviews.dora_report(
        setup.database, deliveries.Scope(app="checkout"), now=T0 + timedelta(days=1), days=1, weekly=False
    )
    figures = report.figures
    assert (figures.deployments, figures.failed_deployments, figures.change_failure_rate) == (2, 1, 0.5)
    assert (figures.recovered, figures.recovery_seconds) == (1, 45 * 60.0)


def test_an_event_of_another_environment_with_a_changes_sha_leaves_the_change_alone(setup: Any) -> None:
    applied = _applied(setup, "1.0", at=T0)
    event = deliveryevents.DeploymentEvent(
        source="ci",
        app="checkout",
        env="dev",
        revision=str(applied.commit_sha),
        status="succeeded",
        time=T0,
        commits=(),
    )
    recorded = deployments.record_deployment(setup.database, event, actor="ci", now=T0)
    assert (recorded.outcome, recorded.commits, recorded.change) == ("recorded", 0, None)
    assert changes.get_change(setup.database, applied.id, now=T0).status == "applied"
