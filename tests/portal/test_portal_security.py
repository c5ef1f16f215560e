"""The portal against hostile visitors, on SQLite and PostgreSQL: stored XSS through every user-supplied
field, CSRF on every form, session fixation, the cookie's attributes, open redirects, and authorisation
on every page and partial by the same rules as the API (a developer of one team never sees another's)."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portalpages import NOW, XSS, XSS_APP, Portal, csrf_of, request_waiver, sign_in

from leitplanke.governance import portalsessions, waivers
from leitplanke.store import repositories

COOKIE = "__Host-leitplanke-portal"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def _ids(portal: Portal, app: str) -> list[int]:
    where = repositories.FindingFilter(app=app)
    with portal.database.reading() as session:
        _, rows = repositories.query_findings(session, where, limit=100)
    return [finding.id for finding, *_ in rows]


def _request_waiver(client: TestClient, justification: str) -> Any:
    return request_waiver(client, justification=justification)


# --- stored XSS ---------------------------------------------------------------------------------------


def test_markup_in_app_names_messages_resource_names_and_justifications_is_shown_as_text(
    portal: Portal,
) -> None:
    sign_in(portal.client, "shop-dev")
    requested = _request_waiver(portal.client, f"because {XSS}")
    assert requested.status_code == 303
    pages = {
        "team home": "/portal/teams/team-shop",
        "findings": "/portal/findings",
        "finding": f"/portal/findings/{_ids(portal, 'checkout')[0]}",
        "app": "/portal/apps/checkout",
        "waivers": "/portal/waivers",
        "waiver": requested.headers["location"],
    }
    shown = {name: portal.client.get(url) for name, url in pages.items()}
    assert {name: answer.status_code for name, answer in shown.items()} == dict.fromkeys(pages, 200)
    assert [name for name, answer in shown.items() if "<img" in answer.text or "<svg" in answer.text] == []
    # each hostile value is there, as text
    assert ESCAPED in shown["team home"].text  # the hostile app's value stream
    assert "x&#34;&gt;&lt;svg onload=alert(1)&gt;" in shown["team home"].text  # its name
    assert ESCAPED in shown["findings"].text  # a resource name
    assert f"container {ESCAPED} is privileged" in shown["finding"].text  # a policy's message
    assert f"because {ESCAPED}" in shown["waiver"].text  # a justification
    assert f"because {ESCAPED}" in shown["team home"].text  # ... in the list of waivers waiting
    hostile_app = portal.client.get(
        "/portal/apps/" + XSS_APP.replace('"', "%22").replace(">", "%3E").replace("<", "%3C")
    )
    assert hostile_app.status_code == 200 and "<svg" not in hostile_app.text


def test_every_page_forbids_inline_scripts_and_framing(portal: Portal) -> None:
    answer = portal.client.get("/portal/sign-in")
    assert answer.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self';")
    assert (answer.headers["x-frame-options"], answer.headers["cache-control"]) == ("DENY", "no-store")


# --- CSRF ---------------------------------------------------------------------------------------------


def test_every_form_refuses_a_post_without_its_sessions_token(portal: Portal) -> None:
    sign_in(portal.client, "shop-dev")
    requested = _request_waiver(portal.client, "needed")
    waiver_url = requested.headers["location"]
    approver = portal.fresh()
    sign_in(approver, "shop-approver")
    admin = portal.fresh()
    sign_in(admin, "admin")
    other_session = portal.fresh()
    stolen = csrf_of(other_session.get("/portal/sign-in").text)  # a valid token, of another session
    posts = {
        "sign-in": (
            portal.fresh(),
            "/portal/sign-in",
            {"login": "shop-dev", "password": "correct horse battery"},
        ),
        "sign-out": (portal.client, "/portal/sign-out", {}),
        "request": (
            portal.client,
            "/portal/waivers",
            {
                "app": "checkout",
                "env": "prod",
                "policy": "p",
                "kind": "K",
                "name": "n",
                "justification": "j",
                "expires": "2026-02-20",
            },
        ),
        "approve": (approver, waiver_url + "/approve", {"note": ""}),
        "reject": (approver, waiver_url + "/reject", {"note": ""}),
        "verify": (admin, "/portal/audit/verify", {}),
    }
    for token in (None, "", stolen):
        answers = {
            name: client.post(
                url, data=data if token is None else {**data, "csrf": token}, follow_redirects=False
            )
            for name, (client, url, data) in posts.items()
        }
        assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(posts, 403)
    assert [w.status for w in waivers.list_waivers(portal.database, repositories.WaiverFilter())] == [
        "requested"
    ]
    assert portal.client.get("/portal/").status_code == 200  # still signed in


# --- sessions -----------------------------------------------------------------------------------------


def test_signing_in_replaces_a_planted_session_key(portal: Portal) -> None:
    attacker = portal.fresh()
    attacker.get("/portal/sign-in")
    planted = attacker.cookies.get(COOKIE)
    victim = portal.fresh()
    victim.cookies.set(COOKIE, planted, domain="testserver.local")
    form = victim.get("/portal/sign-in")  # the victim's browser sends the planted key
    signed = victim.post(
        "/portal/sign-in",
        data={"csrf": csrf_of(form.text), "login": "shop-dev", "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    now_key = SimpleCookie(signed.headers["set-cookie"])[COOKIE].value
    assert now_key != planted
    assert portalsessions.current(portal.database, planted, now=NOW) is None
    attacker.cookies.set(COOKIE, planted, domain="testserver.local")
    assert attacker.get("/portal/", follow_redirects=False).status_code == 303  # to the sign-in page


def test_the_session_cookie_is_host_only_secure_http_only_and_same_site(portal: Portal) -> None:
    signed = sign_in(portal.client, "shop-dev")
    header = signed.headers["set-cookie"]
    morsel = SimpleCookie(header)[COOKIE]
    assert (morsel["path"], morsel["secure"], morsel["httponly"], morsel["samesite"], morsel["domain"]) == (
        "/",
        True,
        True,
        "lax",
        "",
    )
    assert int(morsel["max-age"]) == 8 * 3600


def test_sign_in_never_redirects_to_another_site(portal: Portal) -> None:
    for target in ("https://evil.example/", "//evil.example/portal/", "/portal//evil.example", "/docs"):
        form = portal.client.get("/portal/sign-in")
        signed = portal.client.post(
            "/portal/sign-in",
            data={
                "csrf": csrf_of(form.text),
                "login": "shop-dev",
                "password": "correct horse battery",
                "next": target,
            },
            follow_redirects=False,
        )
        assert signed.headers["location"] == "/portal/"


# --- authorisation: the API's matrix ----------------------------------------------------------------------

PAGES = (
    "/portal/teams/team-shop",
    "/portal/teams/team-data",
    "/portal/apps/checkout",
    "/portal/apps/warehouse",
    "shop finding",
    "data finding",
    "/portal/findings?app=warehouse",
    "/portal/waivers?app=warehouse",
    "/portal/waivers/new?finding=data",
    "/portal/policies",
    "/portal/audit",
)
# per user: the pages answered 200 (all others 403), as the API's rules give them
ALLOWED = {
    "shop-viewer": {"/portal/teams/team-shop", "/portal/apps/checkout", "shop finding", "/portal/policies"},
    "shop-dev": {"/portal/teams/team-shop", "/portal/apps/checkout", "shop finding", "/portal/policies"},
    "data-dev": {
        "/portal/teams/team-data",
        "/portal/apps/warehouse",
        "data finding",
        "/portal/findings?app=warehouse",
        "/portal/waivers?app=warehouse",
        "/portal/waivers/new?finding=data",
        "/portal/policies",
    },
    "admin": set(PAGES),
}


@pytest.mark.parametrize("partial", [False, True], ids=["page", "htmx-partial"])
def test_every_page_and_partial_answers_each_user_as_the_apis_rules_say(
    portal: Portal, partial: bool
) -> None:
    shop, data = _ids(portal, "checkout")[0], _ids(portal, "warehouse")[0]
    urls = {
        page: page.replace("shop finding", f"/portal/findings/{shop}")
        .replace("data finding", f"/portal/findings/{data}")
        .replace("finding=data", f"finding={data}")
        for page in PAGES
    }
    headers = {"HX-Request": "true"} if partial else {}
    seen = {}
    for user in ALLOWED:
        client = portal.fresh()
        sign_in(client, user)
        seen[user] = {
            page for page, url in urls.items() if client.get(url, headers=headers).status_code == 200
        }
    assert seen == ALLOWED


def test_an_unfiltered_list_shows_only_the_callers_team(portal: Portal) -> None:
    sign_in(portal.client, "shop-dev")
    shown = portal.client.get("/portal/findings").text
    assert "loader" not in shown and "warehouse" not in shown
    assert sorted(set(re.findall(r"<td>([^<]+) / prod</td>", shown))) == [
        "checkout",
        "x&#34;&gt;&lt;svg onload=alert(1)&gt;",
    ]


def test_a_waiver_is_requested_and_decided_only_with_the_apis_roles(portal: Portal) -> None:
    viewer, other_team = portal.fresh(), portal.fresh()
    sign_in(viewer, "shop-viewer")
    sign_in(other_team, "data-dev")
    assert _request_waiver(viewer, "x").status_code == 403
    assert _request_waiver(other_team, "x").status_code == 403
    approver = portal.fresh()
    sign_in(approver, "shop-approver")
    waiver_url = _request_waiver(approver, "needed").headers["location"]
    sign_in(portal.client, "shop-dev")
    page = portal.client.get(waiver_url)
    refused = portal.client.post(waiver_url + "/approve", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 403
    assert "approve a waiver needs the approver role for team team-shop" in refused.text
    assert other_team.get(waiver_url).status_code == 403
