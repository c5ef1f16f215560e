"""A change's author in the portal, on SQLite and PostgreSQL, prod's GitOps target a real bare Git
repository: cancelling and submitting (the author only, with the form's token), editing (a new diff:
the approval stops counting), and naming an approved waiver for a pre-flight that blocks at enforce."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from portalpages import NOW, XSS, Portal, csrf_of, sign_in
from test_portal_library import _submit as submit_from_library

from leitplanke.delivery import changes, proposing
from leitplanke.governance import waivers
from leitplanke.store import changerecords

# a Deployment of checkout in prod that the restricted packs refuse: privileged, as root
BLOCKED = """apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      containers:
      - name: web
        image: registry.example/checkout:1.0
        securityContext: {privileged: true}
"""


def _statuses(portal: Portal) -> list[str]:
    with portal.database.reading() as session:
        found = changerecords.query_changes(session, changerecords.ChangeFilter())
    return [row.status for row, *_ in found]


def _audited(portal: Portal, action: str) -> list[tuple[str, dict[str, Any]]]:
    with portal.database.reading() as session:
        from sqlalchemy import select

        from leitplanke.store.rows import AuditRecord

        rows = session.scalars(select(AuditRecord).where(AuditRecord.action == action)).all()
        return [(r.actor, dict(r.details)) for r in rows]


def _blocked_change(portal: Portal, *, author: str = "shop-dev", submit: bool = True) -> changes.ChangeView:
    """A change of checkout in prod whose pre-flight blocks, proposed by the portal user ``author``."""
    tools = portal.client.app.state.changes.tools()  # type: ignore[attr-defined]
    proposal = proposing.Proposal(app="checkout", env="prod", title="Privileged checkout", manifests=BLOCKED)
    who = proposing.Author(actor=f"user:{author} via portal:{author}", subject=f"user:{author}")
    view = proposing.create_change(portal.database, tools, proposal, author=who, now=NOW)
    if submit:
        view = changes.transition(portal.database, view.id, event="submit", actor=who.actor, now=NOW)
    return view


def _waiver(
    portal: Portal, *, policies: tuple[str, ...], env: str = "prod", app: str = "checkout", **when: Any
) -> int:
    """A waiver of ``app`` in ``env`` for the blocked Deployment, requested by shop-dev and, unless
    ``approve=False``, approved by shop-approver; ``at`` moves the request (and its expiry) back."""
    at = when.get("at", NOW)
    request = waivers.WaiverRequest(
        app=app,
        env=env,
        policies=policies,
        resources=(waivers.ResourceRef("Deployment", "checkout", "shop"),),
        justification="a legacy agent needs it",
        expires=at + timedelta(days=20),
    )
    view = waivers.request_waiver(
        portal.database, request, actor="user:shop-dev", subject="user:shop-dev", now=at, max_days=90
    )
    if when.get("approve", True):
        waivers.decide_waiver(
            portal.database,
            view.id,
            approve=True,
            note="",
            actor="user:shop-approver",
            subject="user:shop-approver",
            now=at,
        )
    return view.id


def _failing_policies(view: changes.ChangeView) -> tuple[str, ...]:
    return tuple(sorted({r["policy"] for r in view.preflight["results"] if r["verdict"] == "fail"}))


def test_the_author_cancels_a_change_from_its_page(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    change_url = submit_from_library(library, library.client).headers["location"]
    page = library.client.get(change_url).text
    assert re.findall(r'<form method="post" action="(/portal/changes/\d+/\w+)">', page) == [
        f"{change_url}/cancel"
    ]
    answer = library.client.post(f"{change_url}/cancel", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, change_url)
    shown = library.client.get(change_url).text
    assert "<dt>Status</dt><dd><strong>cancelled</strong></dd>" in shown
    assert "Cancel change" not in shown and "Edit change" not in shown
    change_id = int(change_url.rsplit("/", 1)[1])
    assert [(actor, d["from"], d["to"]) for actor, d in _audited(library, "change.cancel")] == [
        ("user:shop-dev via portal:shop-dev", "submitted", "cancelled")
    ]
    assert changes.get_change(library.database, change_id, now=NOW).status == "cancelled"


def test_cancelling_is_refused_to_anyone_but_the_author_and_without_the_forms_token(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    change_url = submit_from_library(library, library.client).headers["location"]
    assert library.client.post(f"{change_url}/cancel", data={"csrf": "forged"}).status_code == 403
    assert library.client.post(f"{change_url}/cancel", data={}).status_code == 403
    refused = {}
    for user in ("shop-viewer", "shop-approver", "data-dev", "admin"):
        client = library.fresh()
        sign_in(client, user)
        page = client.get(change_url)
        shown = "Cancel change" in page.text or "Edit change" in page.text
        answer = client.post(f"{change_url}/cancel", data={"csrf": csrf_of(client.get("/portal/").text)})
        message = re.search(r'<p class="error"[^>]*>([^<]+)</p>', answer.text)
        refused[user] = (shown, answer.status_code, html.unescape(message.group(1)) if message else "")
    change_id = change_url.rsplit("/", 1)[1]
    assert refused == {
        "shop-viewer": (False, 403, "cancel a change needs the developer role for team team-shop"),
        "shop-approver": (False, 403, f"only the author of change {change_id} can cancel it"),
        "data-dev": (False, 403, "cancel a change needs the developer role for team team-shop"),
        "admin": (False, 403, f"only the author of change {change_id} can cancel it"),
    }
    assert _statuses(library) == ["submitted"]


def test_an_edit_makes_a_new_diff_and_the_approval_stops_counting(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    change_url = submit_from_library(library, library.client).headers["location"]
    change_id = int(change_url.rsplit("/", 1)[1])
    approver = library.fresh()
    sign_in(approver, "shop-approver")
    approver.post(f"{change_url}/approve", data={"csrf": csrf_of(approver.get(change_url).text)})
    before = changes.get_change(library.database, change_id, now=NOW)
    assert (before.status, [a.counts for a in before.approvals]) == ("approved", [True])
    form = library.client.get(f"{change_url}/edit")
    assert form.status_code == 200
    assert "the 1 approval given so far stop counting" in form.text
    shown = re.search(r'<textarea id="e-manifests" name="manifests"[^>]*>(.*?)</textarea>', form.text, re.S)
    assert shown is not None and html.unescape(shown.group(1)) == before.manifests
    manifests = re.sub(r"minReplicas: \d+", "minReplicas: 3", before.manifests, count=1)
    assert manifests != before.manifests
    data = {
        "csrf": csrf_of(form.text),
        "title": "Payments, three replicas",
        "manifests": manifests,
        "waiver": "",
    }
    answer = library.client.post(f"{change_url}/edit", data=data, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, change_url)
    after = changes.get_change(library.database, change_id, now=NOW)
    assert (after.status, after.title, after.manifests) == (
        "submitted",
        "Payments, three replicas",
        manifests,
    )
    assert after.diff_hash != before.diff_hash and after.approved_hash is None
    assert [a.counts for a in after.approvals] == [False]
    assert re.findall(r"^\+\s*minReplicas: 3$", after.diff, re.M) == ["+  minReplicas: 3"]
    assert re.findall(r"^\+\s*minReplicas: 3$", before.diff, re.M) == []
    page = library.client.get(change_url).text
    assert "<dt>Status</dt><dd><strong>submitted</strong></dd>" in page
    assert '<span class="badge">no longer counts</span>' in page
    assert re.findall(r'<h2 id="c-(\d+)">', approver.get("/portal/changes").text) == [str(change_id)]
    edits = _audited(library, "change.edit")
    assert [(a, d["from"], d["to"], d["title"], d["diffHash"]) for a, d in edits] == [
        (
            "user:shop-dev via portal:shop-dev",
            "approved",
            "submitted",
            "Payments, three replicas",
            after.diff_hash,
        )
    ]


def test_a_refused_edit_is_shown_at_its_field_with_what_was_typed(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    change_url = submit_from_library(library, library.client).headers["location"]
    form = library.client.get(f"{change_url}/edit").text
    data = {"csrf": csrf_of(form), "title": "kept title", "manifests": "  \n", "waiver": ""}
    answer = library.client.post(f"{change_url}/edit", data=data)
    assert answer.status_code == 422
    assert (
        '<p class="error" id="e-manifests-error">a change carries the app&#39;s rendered manifests</p>'
        in answer.text
    )
    assert 'value="kept title"' in answer.text
    data.update(title=" ", manifests="kind: ConfigMap\n")
    answer = library.client.post(f"{change_url}/edit", data=data)
    assert '<p class="error" id="e-title-error">a change has a title</p>' in answer.text
    assert changes.get_change(library.database, int(change_url.rsplit("/", 1)[1]), now=NOW).title == (
        "New payments service"
    )


def test_the_waiver_select_lists_only_eligible_waivers_and_the_blocking_change_becomes_approvable(
    library: Portal,
) -> None:
    view = _blocked_change(library)
    assert view.preflight_blocking
    failing = _failing_policies(view)
    covering = _waiver(library, policies=failing)
    other_policy = _waiver(library, policies=(XSS,))
    _waiver(library, policies=failing, approve=False)  # requested only
    _waiver(library, policies=failing, at=NOW - timedelta(days=30))  # approved, expired ten days ago
    _waiver(library, policies=failing, app="warehouse")  # another app
    sign_in(library.client, "shop-dev")
    change_url = f"/portal/changes/{view.id}"
    page = library.client.get(change_url).text
    select = re.search(r'<select id="c-waiver" name="waiver" required>(.*?)</select>', page, re.S)
    assert select is not None
    assert re.findall(r'<option value="(\d+)"', select.group(1)) == [str(covering), str(other_policy)]
    assert "<img" not in page and html.escape(XSS, quote=False) in select.group(1)
    links = re.findall(r'<a href="(/portal/waivers/new\?[^"]+)">Request a waiver</a>', page)
    assert len(links) == len([r for r in view.preflight["results"] if r["verdict"] == "fail"])
    first = next(r for r in view.preflight["results"] if r["verdict"] == "fail")
    prefilled = library.client.get(html.unescape(links[0])).text
    for name, value in (("policy", first["policy"]), ("kind", "Deployment"), ("name", "checkout")):
        assert f'name="{name}" type="text" value="{value}"' in prefilled
    assert '<option value="prod" selected>prod</option>' in prefilled
    approver = library.fresh()
    sign_in(approver, "shop-approver")
    refused = approver.post(f"{change_url}/approve", data={"csrf": csrf_of(approver.get(change_url).text)})
    assert refused.status_code == 409
    csrf = csrf_of(page)
    wrong = library.client.post(f"{change_url}/waiver", data={"csrf": csrf, "waiver": str(covering + 2)})
    assert wrong.status_code == 422  # the requested-only waiver: not offered, not taken
    named = library.client.post(
        f"{change_url}/waiver", data={"csrf": csrf, "waiver": str(covering)}, follow_redirects=False
    )
    assert named.status_code == 303
    after = changes.get_change(library.database, view.id, now=NOW)
    assert (after.waiver, after.preflight_blocking, after.diff_hash) == (covering, False, view.diff_hash)
    approved = approver.post(f"{change_url}/approve", data={"csrf": csrf_of(approver.get(change_url).text)})
    assert approved.status_code == 200
    assert changes.get_change(library.database, view.id, now=NOW).status == "approved"


def test_markup_in_edited_titles_manifests_and_waivers_is_shown_as_text(library: Portal) -> None:
    view = _blocked_change(library)
    _waiver(library, policies=(XSS,))
    sign_in(library.client, "shop-dev")
    change_url = f"/portal/changes/{view.id}"
    form = library.client.get(f"{change_url}/edit").text
    hostile = BLOCKED + f"# </textarea>{XSS}\n"
    data = {"csrf": csrf_of(form), "title": f"t {XSS}", "manifests": hostile, "waiver": ""}
    assert library.client.post(f"{change_url}/edit", data=data, follow_redirects=False).status_code == 303
    for url in (change_url, f"{change_url}/edit", "/portal/teams/team-shop", "/portal/apps/checkout"):
        shown = library.client.get(url).text
        assert "<img" not in shown and "</textarea><" not in shown, url
        assert html.escape(f"t {XSS}", quote=False) in shown, url
    approver = library.fresh()
    sign_in(approver, "shop-approver")
    assert "<img" not in approver.get("/portal/changes").text


@pytest.mark.parametrize("path", ["edit", "waiver", "submit", "cancel"])
def test_the_new_forms_refuse_a_post_without_the_sessions_token(library: Portal, path: str) -> None:
    view = _blocked_change(library, submit=False)
    waiver = _waiver(library, policies=_failing_policies(view))
    sign_in(library.client, "shop-dev")
    data = {"title": "x", "manifests": BLOCKED, "waiver": str(waiver)}
    for csrf in ({}, {"csrf": ""}, {"csrf": "forged"}):
        answer = library.client.post(f"/portal/changes/{view.id}/{path}", data={**data, **csrf})
        assert answer.status_code == 403
    after = changes.get_change(library.database, view.id, now=NOW)
    assert (after.status, after.title, after.waiver) == ("draft", view.title, None)


def test_the_new_forms_answer_each_user_as_the_apis_rules_say(library: Portal) -> None:
    view = _blocked_change(library, submit=False)
    waiver = _waiver(library, policies=_failing_policies(view))
    url = f"/portal/changes/{view.id}"
    seen = {}
    for user in ("shop-viewer", "shop-approver", "data-dev", "admin", "shop-dev"):
        client = library.fresh()
        sign_in(client, user)
        csrf = csrf_of(client.get("/portal/").text)
        edit = {"csrf": csrf, "title": f"by {user}", "manifests": BLOCKED + f"# {user}\n", "waiver": ""}
        seen[user] = [
            client.get(f"{url}/edit").status_code,
            client.post(f"{url}/edit", data=edit, follow_redirects=False).status_code,
            client.post(
                f"{url}/waiver", data={"csrf": csrf, "waiver": str(waiver)}, follow_redirects=False
            ).status_code,
            client.post(f"{url}/submit", data={"csrf": csrf}, follow_redirects=False).status_code,
            client.post(f"{url}/cancel", data={"csrf": csrf}, follow_redirects=False).status_code,
        ]
    assert seen == {
        "shop-viewer": [403, 403, 403, 403, 403],
        "shop-approver": [403, 403, 403, 403, 403],
        "data-dev": [403, 403, 403, 403, 403],
        "admin": [403, 403, 403, 403, 403],
        "shop-dev": [200, 303, 303, 303, 303],
    }
    after = changes.get_change(library.database, view.id, now=NOW)
    assert (after.status, after.title, after.waiver, after.preflight_blocking) == (
        "cancelled",
        "by shop-dev",
        waiver,
        False,
    )


def test_a_template_submitted_under_a_waiver_names_it_only_when_it_is_eligible(library: Portal) -> None:
    from test_portal_library import TEMPLATE, _post, form_of

    eligible = _waiver(library, policies=("disallow-privileged",))
    requested = _waiver(library, policies=("disallow-privileged",), approve=False)
    sign_in(library.client, "shop-dev")
    data = form_of(library.client.get(TEMPLATE).text, app="checkout", environment="prod", title="Checkout")
    refused = _post(library.client, {**data, "action": "submit", "waiver": str(requested)})
    assert refused.status_code == 422
    assert f"waiver {requested} is not an approved, unexpired waiver of checkout in prod" in refused.text
    assert _statuses(library) == []
    answer = _post(library.client, {**data, "action": "submit", "waiver": str(eligible)})
    assert answer.status_code == 303
    change_id = int(answer.headers["location"].rsplit("/", 1)[1])
    view = changes.get_change(library.database, change_id, now=NOW)
    assert (view.app, view.waiver, view.status) == ("checkout", eligible, "submitted")
    assert (
        f'<a href="/portal/waivers/{eligible}">waiver {eligible}</a>'
        in library.client.get(answer.headers["location"]).text
    )


def test_the_author_edits_a_template_change_in_its_form_with_its_parameters_filled_in(
    library: Portal,
) -> None:
    from test_portal_library import TEMPLATE, _post, form_of

    sign_in(library.client, "shop-dev")
    first = form_of(
        library.client.get(TEMPLATE).text,
        app="payments",
        environment="prod",
        namespace="pay",
        title="Payments",
        **{"p.minReplicas": "3"},
    )
    change_url = _post(library.client, {**first, "action": "submit"}).headers["location"]
    change_id = int(change_url.rsplit("/", 1)[1])
    approver = library.fresh()
    sign_in(approver, "shop-approver")
    approver.post(f"{change_url}/approve", data={"csrf": csrf_of(approver.get(change_url).text)})
    before = changes.get_change(library.database, change_id, now=NOW)
    assert before.source is not None
    assert (
        before.source["template"],
        before.source["namespace"],
        before.source["values"]["minReplicas"],
    ) == (
        "web-service",
        "pay",
        3,
    )
    page = library.client.get(change_url).text
    edit_url = f"{TEMPLATE}?change={change_id}"
    assert f'<a class="button" href="{edit_url}">Edit in the template form</a>' in page
    form = library.client.get(edit_url).text
    assert f'<input type="hidden" name="change" value="{change_id}">' in form
    assert 'id="t-app"' not in form and 'id="t-environment"' not in form  # the change's, kept
    shown = form_of(form)
    assert (shown["p.minReplicas"], shown["namespace"], shown["title"]) == ("3", "pay", "Payments")
    data = {**shown, "change": str(change_id), "p.minReplicas": "4", "title": "Payments, four replicas"}
    checked = _post(library.client, {**data, "action": "check"})
    assert checked.status_code == 200
    assert f'value="edit">Save as a new version of change #{change_id}</button>' in checked.text
    assert "Submit as change request" not in checked.text
    saved = _post(library.client, {**data, "app": "elsewhere", "action": "edit"})
    assert (saved.status_code, saved.headers["location"]) == (303, change_url)
    after = changes.get_change(library.database, change_id, now=NOW)
    assert (after.app, after.status, after.title) == ("payments", "submitted", "Payments, four replicas")
    assert after.source is not None and after.source["values"]["minReplicas"] == 4
    assert after.diff_hash != before.diff_hash and [a.counts for a in after.approvals] == [False]
    assert re.findall(r"^\+\s*minReplicas: 4$", after.diff, re.M) == ["+  minReplicas: 4"]
    assert [d.get("template") for _, d in _audited(library, "change.edit")] == ["web-service"]
    hand = library.client.get(f"{change_url}/edit").text
    assert "it no longer follows the template" in hand
    data = {
        "csrf": csrf_of(hand),
        "title": after.title,
        "manifests": after.manifests + "# by hand\n",
        "waiver": "",
    }
    assert library.client.post(f"{change_url}/edit", data=data, follow_redirects=False).status_code == 303
    assert changes.get_change(library.database, change_id, now=NOW).source is None
    assert "Edit in the template form" not in library.client.get(change_url).text
    refused = library.client.get(edit_url)
    assert refused.status_code == 409
    assert f"change {change_id} was not made from the template web-service" in html.unescape(refused.text)


def test_the_template_form_of_a_change_is_its_authors_only(library: Portal) -> None:
    from test_portal_library import TEMPLATE, _post, form_of

    sign_in(library.client, "shop-dev")
    change_url = submit_from_library(library, library.client).headers["location"]
    change_id = int(change_url.rsplit("/", 1)[1])
    edit_url = f"{TEMPLATE}?change={change_id}"
    data = {**form_of(library.client.get(edit_url).text), "change": str(change_id), "action": "edit"}
    seen = {}
    for user in ("shop-viewer", "shop-approver", "data-dev", "admin"):
        client = library.fresh()
        sign_in(client, user)
        csrf = csrf_of(client.get("/portal/").text)
        seen[user] = (client.get(edit_url).status_code, _post(client, {**data, "csrf": csrf}).status_code)
    assert seen == {user: (403, 403) for user in ("shop-viewer", "shop-approver", "data-dev", "admin")}
    assert _post(library.client, {**data, "csrf": "forged"}).status_code == 403
    assert changes.get_change(library.database, change_id, now=NOW).status == "submitted"
    assert _audited(library, "change.edit") == []


def test_an_oversized_edit_is_refused_and_only_the_authors_posts_are_read(library: Portal) -> None:
    """The edit form takes whole manifests, up to 1 MiB; the other forms 64 KiB. Who may edit is asked
    before the body is read: another user's post of any size is a 403, not a 413."""
    view = _blocked_change(library, submit=False)
    url = f"/portal/changes/{view.id}"
    sign_in(library.client, "shop-dev")
    csrf = csrf_of(library.client.get("/portal/").text)
    big = {"csrf": csrf, "title": "big", "manifests": BLOCKED + "#" * (1024 * 1024), "waiver": ""}
    answer = library.client.post(f"{url}/edit", data=big, follow_redirects=False)
    assert answer.status_code == 413
    assert "a form has at most 1048576 bytes" in answer.text
    padded = {"csrf": csrf, "waiver": "", "pad": "x" * (64 * 1024)}
    answer = library.client.post(f"{url}/waiver", data=padded, follow_redirects=False)
    assert answer.status_code == 413
    assert "a form has at most 65536 bytes" in answer.text
    other = library.fresh()
    sign_in(other, "shop-approver")
    other_csrf = csrf_of(other.get("/portal/").text)
    assert other.post(f"{url}/edit", data={**big, "csrf": other_csrf}).status_code == 403
    after = changes.get_change(library.database, view.id, now=NOW)
    assert (after.title, after.manifests) == (view.title, view.manifests)
