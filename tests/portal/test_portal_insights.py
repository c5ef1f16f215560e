"""The portal's scorecard and trends pages (SQLite and PostgreSQL): a platform-admin sees the
organisation's scorecard with one card per team, a team member their team's by default and not the
organisation's; values from the catalog and findings are escaped."""

from __future__ import annotations

import html
import re

from portalpages import XSS_APP, Portal, sign_in


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))).strip()


def test_a_platform_admin_sees_the_org_scorecard_with_a_card_per_team(portal: Portal) -> None:
    sign_in(portal.client, "admin")
    page = portal.client.get("/portal/scorecard")
    assert page.status_code == 200
    headings = re.findall(r"<h2 id=\"[^\"]+\">([^<]+)</h2>", page.text)
    assert headings == ["org", "team:team-data", "team:team-shop"]
    text = _text(page.text)
    assert "Level-4 scorecard: org" in text
    assert "Critical findings open more than 7 days" in text
    assert "Deployments per week – >= 1.0 – not measured" in text
    assert '<a href="/portal/scorecard">Scorecard</a>' in page.text


def test_a_team_member_sees_the_own_teams_scorecard_and_not_the_organisations(portal: Portal) -> None:
    sign_in(portal.client, "shop-dev")
    page = portal.client.get("/portal/scorecard")
    assert page.status_code == 200
    assert re.findall(r"<h2 id=\"[^\"]+\">([^<]+)</h2>", page.text) == ["team:team-shop"]
    assert portal.client.get("/portal/scorecard?scope=org").status_code == 403
    assert portal.client.get("/portal/scorecard?scope=team:team-data").status_code == 403


def test_the_trends_page_shows_every_section_and_escapes_app_names(portal: Portal) -> None:
    sign_in(portal.client, "admin")
    page = portal.client.get("/portal/trends?scope=team:team-shop&period=60d")
    assert page.status_code == 200
    headings = re.findall(r"<h2 id=\"[^\"]+\">([^<]+)</h2>", page.text)
    assert headings == [
        "Recurring violations",
        "New, reopened and fixed per week",
        "Open findings over time",
        "Regressions with a revision",
        "Slowest to fix",
    ]
    assert XSS_APP not in page.text


def test_a_bad_period_is_refused_with_the_field_named(portal: Portal) -> None:
    sign_in(portal.client, "admin")
    answer = portal.client.get("/portal/scorecard?period=99x")
    assert answer.status_code == 422
    assert "period" in answer.text
