"""The service library in the portal, on SQLite and PostgreSQL, with prod's GitOps target a real bare Git
repository: the form made from web-service's schema, an invalid value shown at its field, the pre-flight
(page and htmx partial), "Submit as change request" registering the app and waiting in the approver's
inbox, approval by another user (never the author), and the change on the team and app pages."""

from __future__ import annotations

import re
from typing import Any

from portalpages import NOW, XSS, Portal, csrf_of, sign_in

from leitplanke import catalog
from leitplanke.delivery import changes
from leitplanke.store import changerecords

TEMPLATE = "/portal/library/web-service"


def form_of(page: str, **changed: str) -> dict[str, str]:
    """The form's fields as the page shows them (inputs, selected options, textareas), with ``changed``."""
    fields = dict(re.findall(r'<input id="[^"]*" name="([^"]+)" type="text"[^>]*value="([^"]*)"', page))
    fields.update(re.findall(r'<textarea id="[^"]*" name="([^"]+)"[^>]*>([^<]*)</textarea>', page))
    for name, body in re.findall(r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body) or re.search(
            r'<option value="([^"]*)"', body
        )
        fields[name] = chosen.group(1) if chosen else ""
    import html

    return {"csrf": csrf_of(page), **{k: html.unescape(v) for k, v in fields.items()}, **changed}


def _post(client: Any, data: dict[str, str], **headers: str) -> Any:
    return client.post(TEMPLATE, data=data, headers=headers, follow_redirects=False)


def test_the_library_lists_every_template_and_its_page_has_a_field_per_parameter(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    listed = library.client.get("/portal/library")
    assert listed.status_code == 200
    assert re.findall(r'href="/portal/library/([a-z-]+)"', listed.text) == [
        "background-worker",
        "cron-job",
        "kafka-topic",
        "postgres-database",
        "rabbitmq-queue",
        "redis-cache",
        "static-site",
        "web-service",
    ]
    page = library.client.get(TEMPLATE).text
    assert re.findall(r'name="p\.([A-Za-z]+)"', page)[:4] == ["image", "version", "port", "healthPath"]
    assert '<option value="ingress" selected>ingress</option>' in page
    assert (
        '<textarea id="p-egressPorts" name="p.egressPorts" rows="3" aria-describedby="p-egressPorts-hint">5432\n6379</textarea>'
        in page
    )


def test_an_invalid_value_is_shown_next_to_its_field_with_the_apis_message(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    data = form_of(
        library.client.get(TEMPLATE).text,
        app="payments",
        environment="prod",
        **{"p.port": "80", "p.minReplicas": "two"},
    )
    answer = _post(library.client, {**data, "action": "check"})
    assert answer.status_code == 422
    assert '<p class="error" id="p-port-error">must satisfy minimum 1024</p>' in answer.text
    assert '<p class="error" id="p-minReplicas-error">must be of type integer</p>' in answer.text
    assert 'value="two"' in answer.text  # what was typed stays
    assert "Pre-flight in" not in answer.text


def test_a_valid_form_shows_the_manifests_and_the_pre_flight_as_a_page_and_as_an_htmx_partial(
    library: Portal,
) -> None:
    sign_in(library.client, "shop-dev")
    data = {
        **form_of(library.client.get(TEMPLATE).text, app="payments", environment="prod"),
        "action": "check",
    }
    page = _post(library.client, data)
    assert page.status_code == 200
    assert '<h2 id="preflight-h">Pre-flight in prod (enforce mode)</h2>' in page.text
    assert re.search(
        r'role="status">pass: 0 failing, 0 warnings, 0 problems, \d+ policies checked.', page.text
    )
    assert "# deployment.yaml" in page.text
    assert 'value="submit">Submit as change request</button>' in page.text
    partial = _post(library.client, data, **{"HX-Request": "true"})
    assert partial.text.startswith('<div id="scaffold">') and "<html" not in partial.text
    assert "Pre-flight in prod (enforce mode)" in partial.text


def _submit(
    portal: Portal, client: Any, *, title: str = "New payments service", app: str = "payments", **headers: str
) -> Any:
    data = form_of(
        client.get(TEMPLATE).text, app=app, environment="prod", valueStream="commerce", title=title
    )
    return _post(client, {**data, "action": "submit"}, **headers)


def test_submitting_registers_the_app_and_another_user_approves_the_change_from_the_inbox(
    library: Portal,
) -> None:
    sign_in(library.client, "shop-dev")
    submitted = _submit(library, library.client)
    assert submitted.status_code == 303, submitted.text
    change_url = submitted.headers["location"]
    change_id = int(change_url.rsplit("/", 1)[1])
    assert catalog.owner_of(library.database, "payments") == "team-shop"
    app = next(a for a in catalog.snapshot(library.database)["apps"] if a["name"] == "payments")
    assert (app["valueStream"], app["lifecycle"]) == ("commerce", "production")
    shown = library.client.get(change_url).text
    assert "<dt>Status</dt><dd><strong>submitted</strong></dd>" in shown
    assert "Approve change" not in shown  # the author never approves
    assert re.findall(r"<dt>Pre-flight</dt><dd>([^<]*)</dd>", shown) == [
        "enforce mode, 10 documents: 105 checks passed, 0 did not"
    ]
    assert '<span class="add">+kind: Deployment</span>' in shown
    approver = library.fresh()
    sign_in(approver, "shop-approver")
    inbox = approver.get("/portal/changes").text
    assert re.findall(r'<h2 id="c-(\d+)">', inbox) == [str(change_id)]
    approved = approver.post(f"{change_url}/approve", data={"csrf": csrf_of(inbox)}, follow_redirects=False)
    assert approved.status_code == 303
    assert "<dt>Status</dt><dd><strong>approved</strong></dd>" in approver.get(change_url).text
    assert re.findall(r'<h2 id="c-(\d+)">', approver.get("/portal/changes").text) == []
    for url in ("/portal/teams/team-shop", "/portal/apps/payments"):
        assert (
            f'<a href="/portal/changes/{change_id}">#{change_id} New payments service</a>'
            in library.client.get(url).text
        )
    applied = library.client.post(
        f"{change_url}/apply", data={"csrf": csrf_of(shown)}, follow_redirects=False
    )
    assert applied.status_code == 303
    view = changes.get_change(library.database, change_id, now=NOW)
    assert (view.status, len(view.commit_sha or "")) == ("applied", 40)


def test_the_team_home_shows_the_newest_changes_first(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    for app in ("payments", "billing", "ledger"):
        assert _submit(library, library.client, app=app, title=f"New {app}").status_code == 303
    shown = library.client.get("/portal/teams/team-shop").text
    assert re.findall(r'<a href="/portal/changes/\d+">#\d+ ([^<]+)</a>', shown) == [
        "New ledger",
        "New billing",
        "New payments",
    ]


def test_an_htmx_submission_sends_the_browser_to_the_change(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    answer = _submit(library, library.client, **{"HX-Request": "true"})
    assert answer.status_code == 200
    assert re.fullmatch(r"/portal/changes/\d+", answer.headers["HX-Redirect"])


def test_an_approver_who_wrote_the_change_cannot_approve_it_and_is_told_why(library: Portal) -> None:
    sign_in(library.client, "shop-approver")
    change_url = _submit(library, library.client).headers["location"]
    page = library.client.get(change_url).text
    assert "Approve change" not in page
    assert re.findall(r'<h2 id="c-(\d+)">', library.client.get("/portal/changes").text) == []
    refused = library.client.post(f"{change_url}/approve", data={"csrf": csrf_of(page)})
    assert refused.status_code == 403
    assert re.search(r"<p[^>]*>[^<]*requested change \d+ and cannot approve it</p>", refused.text), (
        refused.text
    )


def test_markup_in_parameter_values_and_change_titles_is_shown_as_text(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    data = form_of(
        library.client.get(TEMPLATE).text,
        app="payments",
        environment="prod",
        **{"p.domain": XSS, "p.env": f"X={XSS}"},
    )
    checked = _post(library.client, {**data, "action": "check"})
    assert checked.status_code == 422
    assert "<img" not in checked.text and "&lt;img src=x onerror=alert(1)&gt;" in checked.text
    change_url = _submit(library, library.client, title=f"title {XSS}").headers["location"]
    for url in (change_url, "/portal/teams/team-shop", "/portal/apps/payments"):
        shown = library.client.get(url).text
        assert "<img" not in shown and f"title {XSS}".replace("<", "&lt;").replace(">", "&gt;") in shown
    approver = library.fresh()
    sign_in(approver, "shop-approver")
    assert "<img" not in approver.get("/portal/changes").text


def test_the_new_forms_refuse_a_post_without_the_sessions_token(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    change_url = _submit(library, library.client).headers["location"]
    data = form_of(library.client.get(TEMPLATE).text, app="other", environment="prod", csrf="forged")
    assert _post(library.client, {**data, "action": "submit"}).status_code == 403
    approver = library.fresh()
    sign_in(approver, "shop-approver")
    for decision in ("approve", "reject", "apply"):
        assert approver.post(f"{change_url}/{decision}", data={"csrf": "forged"}).status_code == 403
    with library.database.reading() as session:
        found = changerecords.query_changes(session, changerecords.ChangeFilter())
    assert [row.status for row, *_ in found] == ["submitted"]


# the new pages per user: 200 or not, as the API's rules give them
NEW_PAGES = ("/portal/library", TEMPLATE, "/portal/changes", "change")  # then the check: page, partial


def test_the_new_pages_answer_each_user_as_the_apis_rules_say(library: Portal) -> None:
    sign_in(library.client, "shop-dev")
    change_url = _submit(library, library.client).headers["location"]
    seen = {}
    for user in ("shop-viewer", "shop-dev", "shop-approver", "data-dev", "admin"):
        client = library.fresh()
        sign_in(client, user)
        seen[user] = [client.get(change_url if p == "change" else p).status_code for p in NEW_PAGES]
        data = form_of(client.get(TEMPLATE).text, app="payments2", team="team-shop", environment="prod")
        seen[user].append(_post(client, {**data, "action": "check"}).status_code)
        seen[user].append(_post(client, {**data, "action": "check"}, **{"HX-Request": "true"}).status_code)
    assert seen == {
        "shop-viewer": [200, 200, 200, 200, 403, 403],
        "shop-dev": [200, 200, 200, 200, 200, 200],
        "shop-approver": [200, 200, 200, 200, 200, 200],
        "data-dev": [200, 200, 200, 403, 403, 403],
        "admin": [200, 200, 200, 200, 200, 200],
    }
