"""Alert targets from JSON: every field at fault is named at once, and the settings read them."""

from __future__ import annotations

import pytest

from leitplanke.alerts import Target, TargetError, parse_targets
from leitplanke.settings import load_settings


def test_targets_are_parsed_with_their_defaults() -> None:
    text = '[{"name": "am", "type": "alertmanager", "url": "http://am:9093/hook", "headers": {"X-A": "1"}}]'
    assert parse_targets(text) == (
        Target(
            name="am",
            kind="alertmanager",
            url="http://am:9093/hook",
            headers={"X-A": "1"},
            timeout_seconds=5.0,
        ),
    )


def test_every_bad_field_of_every_target_is_reported_together() -> None:
    text = '[{"name": "", "type": "pager", "url": "ftp://x"}, {"name": "s", "type": "slack", "url": "https://h", "timeoutSeconds": 0, "colour": "red"}, {"name": "s", "type": "webhook", "url": "http://h"}]'
    with pytest.raises(TargetError) as raised:
        parse_targets(text)
    assert [(p.field, p.message) for p in raised.value.problems] == [
        ("[0].name", "required: a non-empty string"),
        ("[0].type", "expected one of webhook, alertmanager, slack, alertmanager-api"),
        ("[0].url", "required: an http:// or https:// URL"),
        ("[1].timeoutSeconds", "expected a number above zero"),
        ("[1].colour", "unknown field"),
        ("[2].name", "duplicate target name 's'"),
    ]


def test_settings_read_the_targets_from_the_environment_or_a_file(tmp_path: object) -> None:
    text = '[{"name": "hook", "type": "webhook", "url": "http://h/x"}]'
    assert [t.name for t in load_settings({"LEITPLANKE_ALERT_TARGETS": text}).alert_targets] == ["hook"]
    path = tmp_path / "targets.json"  # type: ignore[operator]
    path.write_text(text)
    assert [t.name for t in load_settings({"LEITPLANKE_ALERT_TARGETS_FILE": str(path)}).alert_targets] == [
        "hook"
    ]
    assert load_settings({}).alert_targets == ()
