"""Failed sign-ins limited per login and per client address in bounded memory, and every sign-in, failure
and refusal in the audit log (on SQLite and PostgreSQL through the portal; the counter on its own too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from portalpages import Portal, sign_in

from leitplanke.service.portal import signinlimits
from leitplanke.service.portal.signinlimits import Limit, SignInLimits
from leitplanke.store import auditrecords

T = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def test_a_login_is_refused_after_five_failures_until_the_window_has_passed() -> None:
    limits = SignInLimits()
    for minute in range(5):
        assert limits.refused(login="Ann", client="10.0.0.1", now=T + timedelta(minutes=minute)) == 0
        limits.failed(login="Ann", client="10.0.0.1", now=T + timedelta(minutes=minute))
    assert limits.refused(login="ann", client="10.0.0.2", now=T + timedelta(minutes=5)) == 601
    assert limits.refused(login="bob", client="10.0.0.2", now=T + timedelta(minutes=5)) == 0
    assert limits.refused(login="ann", client="10.0.0.2", now=T + timedelta(minutes=15)) == 0


def test_one_client_address_is_refused_after_twenty_failures_whatever_logins_it_tries() -> None:
    limits = SignInLimits()
    for n in range(20):
        limits.failed(login=f"user{n}", client="10.0.0.9", now=T)
    assert limits.refused(login="someone-else", client="10.0.0.9", now=T) == 901
    assert limits.refused(login="someone-else", client="10.0.0.8", now=T) == 0


def test_a_success_forgets_the_logins_failures_but_not_the_clients() -> None:
    limits = SignInLimits(per_login=Limit(2, timedelta(minutes=1)), per_client=Limit(3, timedelta(minutes=1)))
    limits.failed(login="ann", client="c", now=T)
    limits.failed(login="ann", client="c", now=T)
    limits.succeeded(login="ann")
    assert limits.sizes() == (0, 1)
    limits.failed(login="ann", client="c", now=T)
    assert limits.refused(login="ann", client="c", now=T) == 61


def test_memory_holds_at_most_max_keys_logins_and_addresses_forgetting_the_oldest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(signinlimits, "MAX_KEYS", 100)
    limits = SignInLimits()
    for n in range(1000):
        limits.failed(login=f"user{n}", client=f"10.0.{n // 250}.{n % 250}", now=T)
    assert limits.sizes() == (100, 100)
    assert sorted(limits._logins.seen)[:2] == ["user900", "user901"]  # the newest kept


def _audit(portal: Portal) -> list[tuple[str, str, dict[str, object]]]:
    with portal.database.reading() as session:
        records = list(auditrecords.iter_audit_records(session))
    return [(r.action, r.actor, r.details) for r in records if r.action.startswith("portal.sign-in")]


def test_the_portal_answers_429_after_five_wrong_passwords_and_audits_each_attempt(portal: Portal) -> None:
    answers = [sign_in(portal.client, "shop-dev", f"wrong password {n}").status_code for n in range(5)]
    refused = sign_in(portal.client, "shop-dev")  # the right password, too late
    assert [*answers, refused.status_code] == [401, 401, 401, 401, 401, 429]
    assert refused.headers["retry-after"] == "901"
    assert "Too many failed sign-ins: try again in 16 minutes." in refused.text
    assert sign_in(portal.client, "shop-approver").status_code == 303  # another login from here may
    failed = {"login": "shop-dev", "client": "testclient"}
    assert _audit(portal) == [
        *[("portal.sign-in-failed", "anonymous", failed)] * 5,
        ("portal.sign-in-limited", "anonymous", failed),
        ("portal.sign-in", "user:shop-approver", {"client": "testclient"}),
    ]
