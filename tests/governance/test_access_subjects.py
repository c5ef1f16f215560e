"""Tokens belong to subjects (people and workloads), on both databases: names unique per subject, the
principal and the audit name the subject, migration 0005 gives old tokens a subject of their own, and
four eyes compare subjects, not token names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from leitplanke.governance import access, errors, waivers
from leitplanke.store import databases
from leitplanke.store.rows import AuditRecord, Waiver

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _token(database: Any, subject: str, name: str, role: str = "approver") -> access.Principal:
    created = access.create_token(
        database, subject=subject, name=name, role=role, team="team-shop", actor="test", now=T0
    )
    principal = access.authenticate(database, created.token)
    assert principal is not None
    return principal


def _request(database: Any, by: access.Principal) -> waivers.WaiverView:
    request = waivers.WaiverRequest(
        app="checkout",
        env="prod",
        policies=("no-privileged",),
        rules=("containers",),
        resources=(waivers.ResourceRef("Deployment", "web", "shop"),),
        justification="vendor image needs it until 2.0",
        expires=T0 + timedelta(days=10),
    )
    return waivers.request_waiver(database, request, actor=by.actor, subject=by.subject, now=T0, max_days=90)


def _decide(database: Any, waiver_id: int, by: access.Principal) -> waivers.WaiverView:
    return waivers.decide_waiver(
        database, waiver_id, approve=True, note="", actor=by.actor, subject=by.subject, now=T0
    )


def _audit(database: Any) -> list[tuple[str, str, str]]:
    with database.reading() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        return [(r.actor, r.action, r.target) for r in rows if not r.action.startswith("catalog.")]


def test_a_tokens_principal_and_audit_actor_name_its_subject_and_the_token(catalog_database: Any) -> None:
    principal = _token(catalog_database, "user:alice@example.com", "laptop")
    assert (principal.subject, principal.name, principal.role, principal.team) == (
        "user:alice@example.com",
        "laptop",
        "approver",
        "team-shop",
    )
    assert principal.actor == "user:alice@example.com via token:laptop"
    [created] = [d for d in _audit_details(catalog_database) if d[0] == "token.created"]
    assert created == ("token.created", "token:laptop", "user:alice@example.com")


def _audit_details(database: Any) -> list[tuple[str, str, str]]:
    with database.reading() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        return [(r.action, r.target, r.details.get("subject", "")) for r in rows]


def test_token_names_are_unique_per_subject_and_free_across_subjects(catalog_database: Any) -> None:
    _token(catalog_database, "user:alice@example.com", "laptop")
    _token(catalog_database, "user:bob@example.com", "laptop")  # another person may use the name
    with pytest.raises(errors.Conflict) as raised:
        _token(catalog_database, "user:alice@example.com", "laptop")
    assert str(raised.value) == "user:alice@example.com already has a token named 'laptop'"
    assert [(t.subject, t.name) for t in access.list_tokens(catalog_database)] == [
        ("user:alice@example.com", "laptop"),
        ("user:bob@example.com", "laptop"),
    ]


@pytest.mark.parametrize("subject", ["alice", "legacy-token:1", "group:shop", "user:", "user:a b"])
def test_a_subject_is_a_user_or_a_service_and_never_a_legacy_one(catalog_database: Any, subject: str) -> None:
    with pytest.raises(errors.Invalid) as raised:
        _token(catalog_database, subject, "laptop")
    assert raised.value.field == "subject"


def test_the_same_person_cannot_approve_their_own_waiver_with_a_second_token(catalog_database: Any) -> None:
    requesting = _token(catalog_database, "user:lead@example.com", "lead", role="developer")
    second = _token(catalog_database, "user:lead@example.com", "lead-approver")
    waiver = _request(catalog_database, requesting)
    assert waiver.requester_subject == "user:lead@example.com"
    with pytest.raises(errors.Forbidden) as refused:
        _decide(catalog_database, waiver.id, second)
    assert str(refused.value) == "user:lead@example.com requested waiver 1 and cannot approve it"
    assert _audit(catalog_database)[-1] == (
        "user:lead@example.com via token:lead-approver",
        "access.denied",
        "waiver:1",
    )
    assert waivers.get_waiver(catalog_database, waiver.id).status == "requested"


def test_two_people_whose_tokens_share_a_name_approve_each_others_waivers(catalog_database: Any) -> None:
    alice = _token(catalog_database, "user:alice@example.com", "shop")
    bob = _token(catalog_database, "user:bob@example.com", "shop")
    first, second = _request(catalog_database, alice), _request(catalog_database, bob)
    assert _decide(catalog_database, first.id, bob).status == "approved"
    assert _decide(catalog_database, second.id, alice).status == "approved"
    assert [a for a in _audit(catalog_database) if a[1] == "waiver.approved"] == [
        ("user:bob@example.com via token:shop", "waiver.approved", "waiver:1"),
        ("user:alice@example.com via token:shop", "waiver.approved", "waiver:2"),
    ]


def test_migration_0005_gives_every_existing_token_a_subject_of_its_own(database_url: str) -> None:
    database = databases.Database(database_url)
    try:
        databases.upgrade(database, "0004_audit")
        with database.transaction() as session:
            for number, name in enumerate(("ci", "ci")):  # names were not unique before subjects
                session.execute(
                    text(
                        "INSERT INTO api_tokens (name, token_hash, role, team_id, created_at)"
                        " VALUES (:name, :hash, 'platform-admin', NULL, :at)"
                    ),
                    {"name": name, "hash": access.hash_token(f"lp_{number}"), "at": T0.replace(tzinfo=None)},
                )
        databases.upgrade(database)
        tokens = access.list_tokens(database)
        assert [(t.subject, t.name) for t in tokens] == [
            (f"legacy-token:{tokens[0].id}", "ci"),
            (f"legacy-token:{tokens[1].id}", "ci"),
        ]
        assert tokens[0].id != tokens[1].id
    finally:
        database.dispose()


def test_a_waiver_requested_before_subjects_still_refuses_the_requesting_token(catalog_database: Any) -> None:
    legacy = _token(catalog_database, "user:lead@example.com", "lead")
    other = _token(catalog_database, "user:bob@example.com", "bob")
    waiver = waivers.request_waiver(
        catalog_database,
        waivers.WaiverRequest(
            app="checkout",
            env="prod",
            policies=("no-privileged",),
            rules=(),
            resources=(waivers.ResourceRef("Deployment", "web", "shop"),),
            justification="old",
            expires=T0 + timedelta(days=10),
        ),
        actor="token:lead",
        now=T0,
        max_days=90,
    )
    with catalog_database.transaction() as session:  # as migration 0005 leaves a request of before
        row = session.get(Waiver, waiver.id)
        row.requester_subject = None
    with pytest.raises(errors.Forbidden):
        _decide(catalog_database, waiver.id, legacy)
    assert _decide(catalog_database, waiver.id, other).status == "approved"
