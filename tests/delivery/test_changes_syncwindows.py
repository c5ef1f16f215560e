"""Sync windows as Argo CD has them, in their own time zones: deny wins, allow windows must be open."""

from __future__ import annotations

from datetime import UTC, datetime

from leitplanke.catalog.changecontrols import SyncWindow, parse_change_control
from leitplanke.delivery import syncwindows

# weekdays 08:00-17:00 in Berlin; no changes from Friday 16:00 for three days
OFFICE = SyncWindow(kind="allow", schedule="0 8 * * 1-5", duration="9h", time_zone="Europe/Berlin")
FREEZE = SyncWindow(kind="deny", schedule="0 16 * * 5", duration="3d", time_zone="Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_no_windows_means_always_open() -> None:
    assert syncwindows.judge((), at("2026-01-04T03:00:00+00:00")) == syncwindows.Verdict(
        True, "no sync windows"
    )


def test_an_allow_window_is_open_from_its_cron_time_for_its_duration_in_its_zone() -> None:
    windows = (OFFICE,)
    assert (
        syncwindows.judge(windows, at("2026-01-05T08:00:00+01:00")).open is True
    )  # Monday, the opening minute
    assert syncwindows.judge(windows, at("2026-01-05T16:59:00+01:00")).open is True
    closed = syncwindows.judge(windows, at("2026-01-05T17:00:00+01:00"))
    assert closed == syncwindows.Verdict(
        False, "no allow window is open", next_open=at("2026-01-06T08:00:00+01:00")
    )
    # in summer the window is still 08:00 Berlin time, 06:00 UTC
    assert syncwindows.judge(windows, at("2026-07-06T06:00:00+00:00")).open is True
    assert syncwindows.judge(windows, at("2026-07-06T05:59:00+00:00")).open is False


def test_a_deny_window_wins_over_an_allow_window_and_says_when_changes_may_go_again() -> None:
    windows = (OFFICE, FREEZE)
    assert (
        syncwindows.judge(windows, at("2026-01-09T15:59:00+01:00")).open is True
    )  # Friday before the freeze
    verdict = syncwindows.judge(windows, at("2026-01-09T16:30:00+01:00"))
    assert verdict == syncwindows.Verdict(
        False, "deny window '0 16 * * 5' (Europe/Berlin) is open", next_open=at("2026-01-12T16:00:00+01:00")
    )


def test_bad_windows_are_refused_with_the_field_at_fault() -> None:
    _, problems = parse_change_control(
        {
            "syncWindows": [
                {"kind": "maybe", "schedule": "0 8 * *", "duration": "9x", "timeZone": "Mars/Olympus"}
            ]
        },
        where="[3].spec.changeControl",
    )
    assert [(p.code, p.field) for p in problems] == [
        ("catalog-sync-window", "[3].spec.changeControl.syncWindows[0].kind"),
        ("catalog-sync-window", "[3].spec.changeControl.syncWindows[0].schedule"),
        ("catalog-duration", "[3].spec.changeControl.syncWindows[0].duration"),
        ("catalog-time-zone", "[3].spec.changeControl.syncWindows[0].timeZone"),
    ]


def test_the_readme_example_environment_reads_without_problems() -> None:
    from pathlib import Path

    from leitplanke import catalog

    text = (
        Path(__file__).resolve().parents[2] / "examples" / "changecontrol" / "environment.yaml"
    ).read_text()
    parsed, problems = catalog.parse_catalog(text)
    assert problems == []
    control = parsed.environments[0].change_control
    assert (control.approvals.required, control.approvals.second_team, len(control.sync_windows)) == (
        2,
        "team-security",
        2,
    )
    assert control.gitops is not None and control.gitops.path == "envs/prod"
