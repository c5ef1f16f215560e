"""OIDC sign-in through the portal in-process against a real OIDC provider on loopback (``oidcservers``):
a good sign-in opens a session as a local one does; a wrong state, nonce, audience or signature, an
expired token and an unmapped group are each refused and audited. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from oidcservers import CLIENT_ID, CLIENT_SECRET, Behaviour, Provider, serving
from portalpages import NOW, Portal

from leitplanke.core.problems import UsageError
from leitplanke.service import create_app
from leitplanke.service.portal import sessions
from leitplanke.settings import OidcSettings, Settings, load_settings
from leitplanke.store import auditrecords

CALLBACK = "https://testserver/portal/sign-in/oidc/callback"
GROUP_ROLES: dict[str, tuple[str, str | None]] = {
    "shop-devs": ("developer", "team-shop"),
    "platform": ("platform-admin", None),
}


@dataclass
class OidcPortal:
    client: TestClient
    database: Any
    provider: Provider


@pytest.fixture
def oidc(portal: Portal) -> Iterator[OidcPortal]:
    with serving(Behaviour(now=NOW)) as provider:
        oidc = OidcSettings(
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_url=CALLBACK,
            provider_name="Test IdP",
            group_roles=GROUP_ROLES,
        )
        settings = Settings(database_url=portal.database.url, migrate_on_start=False, oidc=oidc)
        app = create_app(settings, database=portal.database, clock=lambda: NOW)
        with TestClient(app, base_url="https://testserver") as client:
            yield OidcPortal(client=client, database=portal.database, provider=provider)


def _to_provider(oidc: OidcPortal) -> str:
    """The portal's redirect followed to the provider over real HTTP: the callback URL it sends back."""
    page = oidc.client.get("/portal/sign-in?next=/portal/waivers")
    assert 'href="/portal/sign-in/oidc?next=/portal/waivers">Sign in with Test IdP</a>' in page.text
    start = oidc.client.get("/portal/sign-in/oidc?next=/portal/waivers", follow_redirects=False)
    assert start.status_code == 303
    assert start.headers["location"].startswith(f"{oidc.provider.issuer}/authorize?response_type=code&")
    back = httpx.get(start.headers["location"], follow_redirects=False)
    assert back.status_code == 302
    callback: str = back.headers["location"]
    assert callback.startswith(CALLBACK + "?code=")
    return callback


def _audit(oidc: OidcPortal) -> list[tuple[str, str, dict[str, object]]]:
    with oidc.database.reading() as session:
        records = list(auditrecords.iter_audit_records(session))
    return [(r.action, r.actor, r.details) for r in records if r.action.startswith("portal.sign-in")]


def _refusal(oidc: OidcPortal, reason: str, *, login: str = "") -> list[tuple[str, str, dict[str, object]]]:
    details = {"via": "oidc", "reason": reason, "client": "testclient", "login": login}
    return [("portal.sign-in-failed", "anonymous", details)]


def test_a_mapped_oidc_user_signs_in_with_a_new_session_key_and_the_groups_role_and_team(
    oidc: OidcPortal,
) -> None:
    callback = _to_provider(oidc)
    before = oidc.client.cookies.get(sessions.COOKIE)
    answer = oidc.client.get(callback, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/portal/waivers")
    after = oidc.client.cookies.get(sessions.COOKIE)
    assert after is not None and after != before
    home = oidc.client.get("/portal/")
    assert home.status_code == 200
    assert "user:oidc:alice · developer of team-shop" in home.text
    request = oidc.provider.token_requests[0]
    assert (request["grant_type"], request["redirect_uri"], len(request["code_verifier"])) == (
        "authorization_code",
        CALLBACK,
        43,
    )
    details = {"client": "testclient", "via": "oidc", "role": "developer", "team": "team-shop"}
    assert _audit(oidc) == [("portal.sign-in", "user:oidc:alice", details)]
    # the same callback again (a replay) is refused: its state is used up
    replay = oidc.client.get(callback, follow_redirects=False)
    assert replay.status_code == 403


def test_a_callback_with_another_state_is_refused(oidc: OidcPortal) -> None:
    callback = _to_provider(oidc)
    answer = oidc.client.get(callback.split("&state=")[0] + "&state=forged", follow_redirects=False)
    assert answer.status_code == 403
    assert "This sign-in was not started in this browser or has expired; sign in again." in answer.text
    assert _audit(oidc) == _refusal(oidc, "wrong-state")


def test_a_callback_in_another_browser_is_refused(oidc: OidcPortal) -> None:
    callback = _to_provider(oidc)
    other = TestClient(oidc.client.app, base_url="https://testserver")
    assert other.get(callback, follow_redirects=False).status_code == 403
    assert _audit(oidc) == _refusal(oidc, "wrong-state")


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        ({"nonce": "another-nonce"}, "wrong-nonce", "the ID token does not belong to this sign-in (nonce)"),
        ({"expires_in": timedelta(minutes=-5)}, "expired", "the ID token has expired"),
        ({"audience": "another-client"}, "wrong-audience", "the ID token was issued for another client"),
        (
            {"other_key": True},
            "bad-signature",
            "the ID token&#39;s signature does not match the provider&#39;s keys",
        ),
    ],
)
def test_an_id_token_that_is_not_this_sign_ins_is_refused(
    oidc: OidcPortal, change: dict[str, Any], reason: str, message: str
) -> None:
    for name, value in change.items():
        setattr(oidc.provider.behaviour, name, value)
    answer = oidc.client.get(_to_provider(oidc), follow_redirects=False)
    assert answer.status_code == 401
    assert f"Sign-in refused: {message}." in answer.text
    assert _audit(oidc) == _refusal(oidc, reason)
    assert oidc.client.get("/portal/", follow_redirects=False).status_code == 303  # still signed out


def test_a_user_in_no_mapped_group_is_refused_with_a_page_saying_so(oidc: OidcPortal) -> None:
    oidc.provider.behaviour.groups = ["marketing", "staff"]
    answer = oidc.client.get(_to_provider(oidc), follow_redirects=False)
    assert answer.status_code == 403
    assert "Sign-in refused: alice is in no group that has a role in leitplanke." in answer.text
    details = {**_refusal(oidc, "unmapped-group", login="alice")[0][2], "groups": ["marketing", "staff"]}
    assert _audit(oidc) == [("portal.sign-in-failed", "anonymous", details)]


def test_a_platform_group_signs_in_as_platform_admin(oidc: OidcPortal) -> None:
    oidc.provider.behaviour.groups = ["platform"]
    oidc.provider.behaviour.name = "root.ops"
    assert oidc.client.get(_to_provider(oidc), follow_redirects=False).status_code == 303
    assert "user:oidc:root.ops · platform-admin</span>" in oidc.client.get("/portal/").text


def test_without_oidc_settings_the_sign_in_page_has_no_provider_button_and_no_route(portal: Portal) -> None:
    page = portal.client.get("/portal/sign-in")
    assert "/portal/sign-in/oidc" not in page.text
    assert portal.client.get("/portal/sign-in/oidc", follow_redirects=False).status_code == 404


def test_oidc_settings_are_read_from_leitplanke_oidc_variables() -> None:
    env = {
        "LEITPLANKE_OIDC_ISSUER": "https://id.example.com/realms/x/",
        "LEITPLANKE_OIDC_CLIENT_ID": "portal",
        "LEITPLANKE_OIDC_CLIENT_SECRET": "secret",
        "LEITPLANKE_OIDC_REDIRECT_URL": "https://gov.example.com/portal/sign-in/oidc/callback",
        "LEITPLANKE_OIDC_PROVIDER_NAME": "Keycloak",
        "LEITPLANKE_OIDC_GROUP_ROLES": '{"shop-devs": ["developer", "team-shop"], "ops": ["platform-admin", null]}',
    }
    assert load_settings(env).oidc == OidcSettings(
        issuer="https://id.example.com/realms/x",
        client_id="portal",
        client_secret="secret",
        redirect_url="https://gov.example.com/portal/sign-in/oidc/callback",
        provider_name="Keycloak",
        user_claim="preferred_username",
        groups_claim="groups",
        group_roles={"shop-devs": ("developer", "team-shop"), "ops": ("platform-admin", None)},
    )
    assert load_settings({}).oidc is None
    assert "secret" not in repr(load_settings(env).oidc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"LEITPLANKE_OIDC_CLIENT_SECRET": ""},
            "LEITPLANKE_OIDC_CLIENT_SECRET: needed with LEITPLANKE_OIDC_ISSUER",
        ),
        (
            {"LEITPLANKE_OIDC_ISSUER": "http://id.example.com"},
            "LEITPLANKE_OIDC_ISSUER='http://id.example.com': expected an https URL (http only on loopback)",
        ),
        (
            {"LEITPLANKE_OIDC_GROUP_ROLES": '{"a": "developer"}'},
            'LEITPLANKE_OIDC_GROUP_ROLES: group \'a\': expected ["role", "team" or null]',
        ),
    ],
)
def test_wrong_oidc_settings_are_refused_with_the_variable_named(
    change: dict[str, str], message: str
) -> None:
    env = {
        "LEITPLANKE_OIDC_ISSUER": "https://id.example.com",
        "LEITPLANKE_OIDC_CLIENT_ID": "portal",
        "LEITPLANKE_OIDC_CLIENT_SECRET": "secret",
        "LEITPLANKE_OIDC_REDIRECT_URL": "https://gov.example.com/portal/sign-in/oidc/callback",
        **change,
    }
    with pytest.raises(UsageError) as raised:
        load_settings(env)
    assert str(raised.value) == message


def test_an_unreachable_provider_gives_a_502_page_naming_the_discovery_step(portal: Portal) -> None:
    with serving(Behaviour(now=NOW)) as provider:
        issuer = provider.issuer  # the port is closed once the provider has stopped
    oidc = OidcSettings(
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_url=CALLBACK,
        provider_name="Gone",
    )
    settings = Settings(database_url=portal.database.url, migrate_on_start=False, oidc=oidc)
    app = create_app(settings, database=portal.database, clock=lambda: NOW)
    with TestClient(app, base_url="https://testserver") as client:
        answer = client.get("/portal/sign-in/oidc", follow_redirects=False)
    assert answer.status_code == 502
    assert "Sign-in with Gone is not available now (discovery: cannot reach" in answer.text
