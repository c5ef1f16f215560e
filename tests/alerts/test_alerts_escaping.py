"""Values from outside in alerts (policy, rule and resource names, messages, app names) reach every
target as inert text: Slack gets no mention, link or formatting that the value did not earn, the
Alertmanager group key stays one well-formed string, the link stays under the service's public URL
and the idempotency key stays one header. Sent over real HTTP to a receiver on localhost."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from leitplanke.alerts import Alert, HttpTransport, Target, escaping, render_payload, send
from leitplanke.governance import alerting

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
STAR = "\N{ASTERISK OPERATOR}"
LOW = "\N{MODIFIER LETTER LOW MACRON}"
TILDE = "\N{TILDE OPERATOR}"
GRAVE = "\N{MODIFIER LETTER GRAVE ACCENT}"
OUTBOX = alerting.Outbox(targets=("ops-slack",), public_url="http://127.0.0.1:8080")
LINK = "http://127.0.0.1:8080/api/v1/findings?app=checkout&env=prod&severity=critical&status=new"

HOSTILE = {
    "policy": "<!channel>",
    "rule": "`code` _it_ ~strike~ <@U123>",
    "kind": "Deployment",
    "namespace": "shop",
    "name": "web <https://evil.example|click> *bold*",
    "message": "limits & requests are missing <!here>\n> quoted",
    "path": "spec.template.spec.containers[0]",
    "severity": "critical",
    "status": "new",
    "fingerprint": "f00d",
}


def _hostile_alert(**changes: Any) -> Alert:
    (alert,) = alerting.new_critical_alerts(
        [HOSTILE | changes], app="checkout", env="prod", team="team-shop", outbox=OUTBOX, now=T0
    )
    return alert


def _target(kind: str, url: str = "http://127.0.0.1:9/") -> Target:
    return Target(name=f"ops-{kind}", kind=kind, url=url)


def test_a_finding_with_mentions_links_and_formatting_in_its_names_reaches_slack_as_inert_text(
    receiver: Any,
) -> None:
    alert = _hostile_alert()
    send(alert, _target("slack", f"{receiver.url}/slack"), transport=HttpTransport(), idempotency_key="k")
    (got,) = receiver.wait_for(1)
    summary = (
        "new critical finding in checkout (prod): &lt;!channel&gt;/"
        f"{GRAVE}code{GRAVE} {LOW}it{LOW} {TILDE}strike{TILDE} &lt;@U123&gt; "
        f"on Deployment/shop/web &lt;https://evil.example|click&gt; {STAR}bold{STAR}"
    )
    assert got.body == {
        "text": f":rotating_light: [CRITICAL] {summary}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*LeitplankeNewCriticalFinding*\n:rotating_light: [CRITICAL] {summary}",
                    "verbatim": True,
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "limits &amp; requests are missing &lt;!here&gt; &gt; quoted",
                    "verbatim": True,
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "app=checkout, env=prod, policy=&lt;!channel&gt;, "
                        f"resource=Deployment/shop/web &lt;https://evil.example|click&gt; {STAR}bold{STAR}, "
                        f"rule={GRAVE}code{GRAVE} {LOW}it{LOW} {TILDE}strike{TILDE} &lt;@U123&gt;, "
                        "team=team-shop",
                        "verbatim": True,
                    }
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"<{LINK.replace('&', '&amp;')}|details>",
                        "verbatim": True,
                    }
                ],
            },
        ],
    }


def test_json_targets_carry_the_same_values_verbatim_as_data(receiver: Any) -> None:
    alert = _hostile_alert()
    send(alert, _target("webhook", f"{receiver.url}/hook"), transport=HttpTransport(), idempotency_key="k")
    (got,) = receiver.wait_for(1)
    assert got.body["alert"]["labels"] == {
        "alertname": "LeitplankeNewCriticalFinding",
        "app": "checkout",
        "env": "prod",
        "policy": "<!channel>",
        "resource": "Deployment/shop/web <https://evil.example|click> *bold*",
        "rule": "`code` _it_ ~strike~ <@U123>",
        "severity": "critical",
        "team": "team-shop",
    }
    assert (
        got.body["alert"]["annotations"]["description"] == "limits & requests are missing <!here>\n> quoted"
    )


GROUP_KEY = re.compile(r'\{\}:\{alertname="((?:[^"\\]|\\.)*)"\}')


def test_the_alertmanager_group_key_stays_one_quoted_label_value_whatever_the_alert_name(
    receiver: Any,
) -> None:
    name = 'Leitplanke"} severity="none\\ \n\x01é'
    alert = Alert(key="k", name=name, severity="critical", summary="s", starts_at=T0)
    send(alert, _target("alertmanager", f"{receiver.url}/am"), transport=HttpTransport(), idempotency_key="k")
    (got,) = receiver.wait_for(1)
    assert got.body["groupKey"] == '{}:{alertname="Leitplanke\\"} severity=\\"none\\\\ \\n\\x01é"}'
    assert got.body["groupLabels"] == {"alertname": name}
    match = GROUP_KEY.fullmatch(got.body["groupKey"])
    assert match is not None
    assert match.group(1).encode().decode("unicode_escape").encode("latin-1").decode() == name


def test_the_details_link_stays_under_the_public_url_whatever_the_app_name() -> None:
    (alert,) = alerting.new_critical_alerts(
        [HOSTILE], app="x|y><&z", env="a b", team="t", outbox=OUTBOX, now=T0
    )
    assert alert.generator_url == (
        "http://127.0.0.1:8080/api/v1/findings?app=x%7Cy%3E%3C%26z&env=a+b&severity=critical&status=new"
    )
    blocks = render_payload(alert, _target("slack"))["blocks"]
    assert blocks[-1]["elements"][0]["text"] == (
        "<http://127.0.0.1:8080/api/v1/findings?app=x%7Cy%3E%3C%26z&amp;env=a+b"
        "&amp;severity=critical&amp;status=new|details>"
    )
    assert OUTBOX.link("waivers/7 <x>") == "http://127.0.0.1:8080/api/v1/waivers/7%20%3Cx%3E"


def test_a_link_that_is_not_http_or_would_break_out_of_its_markup_is_never_rendered_as_given() -> None:
    assert escaping.slack_link("javascript:alert(1)", "details") == ""
    assert escaping.slack_link("/api/v1/findings", "details") == ""
    assert escaping.slack_link("https://h.example/a|b>c<!channel> d", "de*tails") == (
        f"<https://h.example/a%7Cb%3Ec%3C!channel%3E%20d|de{STAR}tails>"
    )


def test_a_value_too_long_for_a_slack_block_is_cut_with_an_ellipsis_never_inside_an_entity() -> None:
    alert = _hostile_alert(message="a" * 2997 + "&" + "b" * 10)
    blocks = render_payload(alert, _target("slack"))["blocks"]
    assert blocks[1]["text"]["text"] == "a" * 2997 + "\N{HORIZONTAL ELLIPSIS}"
    alert = _hostile_alert(message="a" * 2990 + "&" + "b" * 10)
    blocks = render_payload(alert, _target("slack"))["blocks"]
    assert blocks[1]["text"]["text"] == "a" * 2990 + "&amp;" + "b" * 4 + "\N{HORIZONTAL ELLIPSIS}"


def test_the_idempotency_key_reaches_the_receiver_as_one_header(receiver: Any) -> None:
    key = "new-critical:shop\r\nX-Injected: 1/prodé/f00d@ops-webhook"
    send(
        _hostile_alert(),
        _target("webhook", f"{receiver.url}/hook"),
        transport=HttpTransport(),
        idempotency_key=key,
    )
    (got,) = receiver.wait_for(1)
    assert (
        got.headers["Idempotency-Key"] == "new-critical:shop%0D%0AX-Injected: 1/prod%C3%A9/f00d@ops-webhook"
    )
    assert "X-Injected" not in got.headers
