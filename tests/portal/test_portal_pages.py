"""The portal's pages in-process on SQLite and PostgreSQL: sign-in, the team home's figures, an app, a
finding with its remediation, filters and pages of lists (whole pages and htmx partials), the waiver
request and its approval by another user, the policy catalog and the audit trail's verify button."""

from __future__ import annotations

import re

import pytest
from portalpages import (
    NOW,
    PASSWORD,
    Portal,
    csrf_of,
    failure,
    ingest,
    many_results,
    request_waiver,
    shop_results,
    sign_in,
)

from leitplanke.governance import portalsessions


def _text(html: str) -> str:
    """The page's words, without tags and with spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _finding_ids(html: str) -> list[int]:
    return [int(found) for found in dict.fromkeys(re.findall(r'href="/portal/findings/(\d+)"', html))]


def test_a_visitor_without_a_session_is_sent_to_the_sign_in_page_with_the_way_back(portal: Portal) -> None:
    answer = portal.client.get("/portal/apps/checkout?severity=high", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/portal/sign-in?next=%2Fportal%2Fapps%2Fcheckout%3Fseverity%3Dhigh",
    )


def test_a_developer_signs_in_and_lands_on_the_home_of_their_team_with_its_posture(portal: Portal) -> None:
    signed = sign_in(portal.client, "shop-dev")
    assert (signed.status_code, signed.headers["location"]) == (303, "/portal/")
    home = portal.client.get("/portal/")
    assert str(home.url) == "https://testserver/portal/teams/team-shop"
    text = _text(home.text)
    # checkout: critical (overdue: first seen 2026-01-10, due 15 days later), medium, low; the hostile app: high
    assert "4 open findings 1 overdue against their SLA 0 active waivers 0.0 % waiver ratio" in text
    assert "Severity Open Overdue critical 1 1 high 1 0 medium 1 0 low 1 0 info 0 0" in text
    assert "checkout commerce 3 1 0 0.0 %" in text


def test_sign_in_refuses_a_wrong_password_and_an_unknown_login_alike(portal: Portal) -> None:
    wrong, unknown = sign_in(portal.client, "shop-dev", "not the password"), sign_in(portal.client, "mallory")
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert "Wrong login or password." in wrong.text and "Wrong login or password." in unknown.text
    assert portal.client.get("/portal/", follow_redirects=False).status_code == 303


def test_an_api_token_signs_in_with_its_own_role_and_team(portal: Portal) -> None:
    form = portal.client.get("/portal/sign-in")
    signed = portal.client.post(
        "/portal/sign-in", data={"csrf": csrf_of(form.text), "token": portal.token}, follow_redirects=False
    )
    assert signed.status_code == 303
    home = portal.client.get("/portal/")
    assert str(home.url) == "https://testserver/portal/teams/team-shop"
    assert "user:ci-shop · developer of team-shop" in _text(home.text)


def test_the_app_page_lists_its_findings_with_the_exact_field_and_its_scan_history(portal: Portal) -> None:
    sign_in(portal.client, "shop-dev")
    page = portal.client.get("/portal/apps/checkout")
    text = _text(page.text)
    assert page.status_code == 200
    assert "spec.template.spec.containers[0].livenessProbe" in text
    assert "Deployment shop/api" in text
    assert re.search(r"Scans of checkout, newest first .* \d+ prod 2026-01-10 09:00 UTC test 3 3", text)
    assert "No waiver was ever requested for checkout." in text


def test_a_finding_shows_the_remediation_text_of_its_built_in_policy(portal: Portal) -> None:
    privileged = failure(
        "disallow-privileged-containers",
        "no-privileged-containers",
        "api",
        severity="critical",
        path="spec.template.spec.containers[0].securityContext",
    )
    ingest(portal.database, "checkout", [privileged], when=NOW)
    sign_in(portal.client, "shop-dev")
    listing = portal.client.get("/portal/findings?policy=disallow-privileged-containers")
    (finding_id,) = _finding_ids(listing.text)
    page = portal.client.get(f"/portal/findings/{finding_id}")
    text = _text(page.text)
    assert f"Finding {finding_id}: disallow-privileged-containers" in text
    assert (
        "How to fix it Delete securityContext.privileged from every container, init container and ephemeral"
        " container, or set it to false." in text
    )
    assert "Request a waiver" in text
    assert "File api.yaml Field spec.template.spec.containers[0].securityContext" in text


def test_the_findings_list_names_the_file_beside_the_field(portal: Portal) -> None:
    sign_in(portal.client, "shop-dev")
    text = _text(portal.client.get("/portal/apps/checkout?severity=medium").text)
    assert "Deployment shop/api spec.template.spec.containers[0].livenessProbe in api.yaml" in text


def test_drift_findings_are_shown_as_drift_on_the_app_page(portal: Portal) -> None:
    drifted = failure("drift.deployment", "modified", "api", severity="medium", path="spec.replicas")
    ingest(portal.database, "checkout", [*shop_results(), drifted], when=NOW)
    sign_in(portal.client, "shop-dev")
    text = _text(portal.client.get("/portal/apps/checkout").text)
    drift = text[text.index("Drift Open drift") :]
    assert re.findall(
        r"\d+ drift\.deployment Deployment shop/api spec.replicas prod 2026-02-01 12:00 UTC", drift
    )
    assert "disallow-privileged" not in drift


def test_filters_and_pages_answer_whole_pages_and_htmx_partials(portal: Portal) -> None:
    ingest(portal.database, "checkout", many_results(30), when=NOW)
    sign_in(portal.client, "shop-dev")
    first = portal.client.get("/portal/findings?app=checkout&severity=low&status=new")
    assert "1–25 of 30" in _text(first.text)
    second = portal.client.get(
        "/portal/findings?app=checkout&severity=low&status=new&page=2", headers={"HX-Request": "true"}
    )
    assert second.text.lstrip().startswith('<div id="findings">')
    assert "<html" not in second.text
    assert "26–30 of 30" in _text(second.text)
    assert len(_finding_ids(second.text)) == 5
    none = portal.client.get("/portal/findings?app=checkout&severity=info")
    assert "No finding matches these filters." in none.text


def test_a_waiver_is_requested_by_one_user_and_approved_by_another(portal: Portal) -> None:
    sign_in(portal.client, "shop-dev")
    (finding_id, *_) = _finding_ids(portal.client.get("/portal/apps/checkout?severity=critical").text)
    form = portal.client.get(f"/portal/waivers/new?finding={finding_id}")
    assert 'value="disallow-privileged"' in form.text and 'value="api"' in form.text
    requested = request_waiver(
        portal.client,
        policy="disallow-privileged",
        justification="the node agent needs the host network until Q3",
    )
    assert requested.status_code == 303
    waiver_url = requested.headers["location"]
    own = portal.client.get(waiver_url)
    assert "Approve waiver" not in own.text  # a developer, and the requester: no decision form
    approver = portal.fresh()
    sign_in(approver, "shop-approver")
    page = approver.get(waiver_url)
    assert "Approve waiver" in page.text
    approved = approver.post(
        waiver_url + "/approve", data={"csrf": csrf_of(page.text), "note": "ok until Q3"}
    )
    text = _text(approved.text)
    assert "Status approved" in text
    assert "approved by user:shop-approver via portal:shop-approver" in text
    finding = _text(approver.get(f"/portal/findings/{finding_id}").text)
    assert "Status waived (by waiver-1)" in finding


def test_the_requester_cannot_approve_their_own_waiver(portal: Portal) -> None:
    sign_in(portal.client, "shop-approver")
    requested = request_waiver(
        portal.client, rule="liveness", justification="probe lands next sprint", expires="2026-02-10"
    )
    page = portal.client.get(requested.headers["location"])
    assert "Approve waiver" not in page.text
    refused = portal.client.post(
        requested.headers["location"] + "/approve", data={"csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 403
    assert "user:shop-approver requested waiver 1 and cannot approve it" in refused.text


def test_a_waiver_request_beyond_the_cap_is_shown_again_with_the_expiry_field_marked(portal: Portal) -> None:
    sign_in(portal.client, "shop-dev")
    refused = request_waiver(portal.client, justification="later", expires="2027-01-01")
    assert refused.status_code == 422
    assert re.search(r'id="w-expires"[^>]*aria-invalid="true"', refused.text)
    assert "is more than 90 days away" in refused.text
    assert 'value="later"' not in refused.text and ">later</textarea>" in refused.text


def test_the_policy_catalog_finds_policies_by_words_and_pack(portal: Portal) -> None:
    sign_in(portal.client, "shop-viewer")
    found = portal.client.get("/portal/policies?q=privileged+containers&pack=pss-baseline")
    ids = re.findall(r'<article class="policy" id="policy-([^"]+)">', found.text)
    # the words are in the host-process policy's rationale too
    assert ids == ["disallow-host-process", "disallow-privileged-containers"]
    text = _text(found.text)
    assert "Remediation" in text and "Controls: PSS:baseline/privileged" in text
    nothing = portal.client.get("/portal/policies?q=no-such-words-anywhere", headers={"HX-Request": "true"})
    assert "No policy matches these words and filters." in nothing.text


def test_the_audit_trail_verifies_the_chain_for_a_platform_admin(portal: Portal) -> None:
    sign_in(portal.client, "admin")
    page = portal.client.get("/portal/audit?action=portal-user")
    assert "portal-user.created" in page.text and "waiver." not in page.text
    verified = portal.client.post("/portal/audit/verify", data={"csrf": csrf_of(page.text), "full": "true"})
    assert verified.status_code == 200
    assert "The chain is intact" in verified.text


def test_sign_out_ends_the_session_on_the_server(portal: Portal) -> None:
    sign_in(portal.client, "shop-dev")
    key = portal.client.cookies.get("__Host-leitplanke-portal")
    home = portal.client.get("/portal/")
    out = portal.client.post("/portal/sign-out", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/portal/sign-in")
    assert portalsessions.current(portal.database, key, now=NOW) is None


def test_the_password_is_stored_as_an_argon2id_hash(portal: Portal) -> None:
    from sqlalchemy import select

    from leitplanke.store.rows import PortalUser

    with portal.database.reading() as session:
        stored = session.scalars(select(PortalUser.password_hash).where(PortalUser.login == "shop-dev")).one()
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")  # the tests' LEITPLANKE_ARGON2
    assert PASSWORD not in stored


def test_without_parameters_a_hash_has_rfc_9106s_and_a_bad_spelling_is_refused() -> None:
    from leitplanke.core.problems import UsageError
    from leitplanke.governance import passwords

    made = passwords.hasher("").hash(PASSWORD)
    assert made.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_password(made, PASSWORD)  # verified with its own parameters, whatever is set
    assert passwords.hasher("t=2, m=19456, p=1").hash(PASSWORD).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    for bad in ("t=0,m=1024,p=1", "m=1024,t=1,p=1", "t=1,m=4,p=1", "t=1,m=64,p=9", "fast"):
        with pytest.raises(UsageError, match="LEITPLANKE_ARGON2="):
            passwords.hasher(bad)


def test_the_team_home_shows_the_dora_figures_of_its_last_30_days_in_production(portal: Portal) -> None:
    from datetime import timedelta

    from leitplanke.delivery import deliveryevents, deployments

    for days, revision, lead in ((10, "a1", 2), (3, "b2", 1)):
        at = NOW - timedelta(days=days)
        commit = deliveryevents.CommitTime(sha=revision, committed_at=at - timedelta(hours=lead))
        event = deliveryevents.DeploymentEvent(
            "argocd", "checkout", "prod", revision, deliveryevents.SUCCEEDED, at, commits=(commit,)
        )
        deployments.record_deployment(portal.database, event, actor="test", now=at)
    sign_in(portal.client, "shop-dev")
    text = _text(portal.client.get("/portal/teams/team-shop").text)
    assert (
        "Delivery (DORA) Period last 30 days in prod"
        " Deployment frequency 0.07/day, 2 deployments (medium)"
        " Lead time for changes 1.5h (elite) Change failure rate 0.0% (elite) Recovery time —"
    ) in text
    sign_in(portal.client, "admin")
    data_home = portal.client.get("/portal/teams/team-data")
    assert data_home.status_code == 200 and "warehouse" in data_home.text
    assert "Delivery (DORA)" not in _text(data_home.text)
