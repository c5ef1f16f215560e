"""What each delivery event does to the deployments of an app in an environment: the state machine of
``deployments.next_outcome`` on SQLite and PostgreSQL, and the rollbacks that make a change failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from leitplanke import catalog
from leitplanke.delivery import deployments
from leitplanke.delivery.deliveryevents import DeploymentEvent
from leitplanke.governance import errors
from leitplanke.store.deliveryrows import Deployment

T0 = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(database: Any) -> Any:
    catalog.put_team(database, catalog.TeamSpec(name="team-shop"), actor="test", now=T0)
    catalog.put_app(database, catalog.AppSpec(name="checkout", owner="team-shop"), actor="test", now=T0)
    catalog.put_environment(database, catalog.EnvironmentSpec(name="prod"), actor="test", now=T0)
    return database


def _send(db: Any, revision: str, hours: float, *, status: str = "succeeded", rollback: bool = False) -> str:
    at = T0 + timedelta(hours=hours)
    event = DeploymentEvent("ci", "checkout", "prod", revision, status, at, rollback=rollback, commits=())
    return deployments.record_deployment(db, event, actor="test", now=at).outcome


def _rows(db: Any) -> list[tuple[str, str, float | None]]:
    with db.reading() as session:
        rows = session.scalars(select(Deployment).order_by(Deployment.id)).all()
        return [
            (
                r.revision,
                r.status,
                None if r.rolled_back_at is None else (r.rolled_back_at - T0).total_seconds() / 3600,
            )
            for r in rows
        ]


def test_going_back_to_an_earlier_revision_rolls_back_every_deployment_after_it(db: Any) -> None:
    outcomes = [_send(db, "r1", 0), _send(db, "r2", 1), _send(db, "r3", 2), _send(db, "r1", 3)]
    assert outcomes == ["recorded", "recorded", "recorded", "rolled-back-to"]
    assert _rows(db) == [("r1", "succeeded", None), ("r2", "succeeded", 3.0), ("r3", "succeeded", 3.0)]


def test_a_late_copy_of_an_old_event_is_a_duplicate_not_a_rollback(db: Any) -> None:
    outcomes = [_send(db, "r1", 0), _send(db, "r2", 1), _send(db, "r1", 0)]
    assert outcomes == ["recorded", "recorded", "duplicate"]
    assert _rows(db) == [("r1", "succeeded", None), ("r2", "succeeded", None)]


def test_a_revert_deployed_as_a_new_revision_rolls_back_the_one_live_before_it(db: Any) -> None:
    outcomes = [_send(db, "r1", 0), _send(db, "r2", 1), _send(db, "revert-r2", 1.5, rollback=True)]
    assert outcomes == ["recorded", "recorded", "recorded"]
    assert _rows(db) == [
        ("r1", "succeeded", None),
        ("r2", "succeeded", 1.5),
        ("revert-r2", "succeeded", None),
    ]


def test_a_failed_sync_of_a_live_revision_leaves_it_live_and_a_failed_one_can_succeed_later(db: Any) -> None:
    outcomes = [_send(db, "r1", 0), _send(db, "r1", 1, status="failed"), _send(db, "r2", 2, status="failed")]
    outcomes += [_send(db, "r2", 2, status="failed"), _send(db, "r2", 3)]
    assert outcomes == ["recorded", "stale", "recorded", "duplicate", "succeeded-after-failure"]
    assert _rows(db) == [("r1", "succeeded", None), ("r2", "succeeded", None)]


def test_an_event_of_an_unknown_environment_names_the_field(db: Any) -> None:
    event = DeploymentEvent("ci", "checkout", "staging", "r1", "succeeded", T0, commits=())
    with pytest.raises(errors.NotFound, match="no environment 'staging'") as raised:
        deployments.record_deployment(db, event, actor="test", now=T0)
    assert raised.value.field == "env"


def test_the_same_revision_twice_is_refused_by_the_database_itself(db: Any) -> None:
    _send(db, "r1", 0)
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.transaction() as session:
        first = session.scalars(select(Deployment)).one()
        session.add(
            Deployment(
                app_id=first.app_id,
                env_id=first.env_id,
                revision="r1",
                status="succeeded",
                rollback=False,
                source="ci",
                deployed_at=T0,
                received_at=T0,
                commits=0,
            )
        )
        session.flush()
