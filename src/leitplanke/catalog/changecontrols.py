"""An environment's change control: approval rules, sync windows, failure mode and GitOps target.

Pure: ``parse_change_control`` reads an Environment's ``spec.changeControl`` (the catalog file, the
API) into values and problems; ``as_dict`` is how it is stored and audited. ``delivery`` acts on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leitplanke.core.problems import Problem

# the kinds whose change a second team (security) approves too, when the environment names one
SENSITIVE_KINDS = (
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "NetworkPolicy",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
)
WINDOW_KINDS = ("allow", "deny")
FAILURE_MODES = ("open", "closed")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?LW#]+$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
Report = Callable[[str, str, str], None]  # (code, message, field)


@dataclass(frozen=True, slots=True)
class ApprovalRules:
    required: int = 1  # approvers of the owning team, none of them the author
    expires_after: str = "24h"  # an approval counts this long
    second_team: str = ""  # also one approver of this team when a change touches ``second_team_kinds``
    second_team_kinds: tuple[str, ...] = SENSITIVE_KINDS


@dataclass(frozen=True, slots=True)
class SyncWindow:
    kind: str  # allow | deny
    schedule: str  # a five-field cron expression: when the window opens
    duration: str  # how long it stays open: 1d2h30m
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class GitTarget:
    repository: str  # a URL or a path the ``git`` CLI can clone and push to
    branch: str = "main"
    path: str = ""  # the environment's folder in the repository


@dataclass(frozen=True, slots=True)
class ChangeControl:
    approvals: ApprovalRules = field(default_factory=ApprovalRules)
    sync_windows: tuple[SyncWindow, ...] = ()
    failure_mode: str = "closed"  # a pre-flight that cannot evaluate: blocks (closed) or warns (open)
    gitops: GitTarget | None = None

    def as_dict(self) -> dict[str, Any]:
        """The stored and audited form: the catalog file's own spelling."""
        return {
            "approvals": {
                "required": self.approvals.required,
                "expiresAfter": self.approvals.expires_after,
                "secondTeam": self.approvals.second_team,
                "secondTeamKinds": list(self.approvals.second_team_kinds),
            },
            "syncWindows": [
                {"kind": w.kind, "schedule": w.schedule, "duration": w.duration, "timeZone": w.time_zone}
                for w in self.sync_windows
            ],
            "failureMode": self.failure_mode,
            "gitops": None
            if self.gitops is None
            else {
                "repository": self.gitops.repository,
                "branch": self.gitops.branch,
                "path": self.gitops.path,
            },
        }


def parse_duration(text: str) -> timedelta | None:
    """``1d2h30m`` (each part optional, at least one) → a positive timedelta; None if it does not parse."""
    match = _DURATION.match(text) if isinstance(text, str) and text else None
    if match is None:
        return None
    days, hours, minutes = (int(part or 0) for part in match.groups())
    span = timedelta(days=days, hours=hours, minutes=minutes)
    return span if span > timedelta(0) else None


def parse_change_control(value: Any, *, where: str, file: str = "") -> tuple[ChangeControl, list[Problem]]:
    """``spec.changeControl`` → its value (defaults where absent) and every problem, each with its field."""
    problems: list[Problem] = []

    def problem(code: str, message: str, at: str) -> None:
        problems.append(Problem(file, 0, f"catalog-{code}", message, f"{where}.{at}"))

    spec = _mapping(value)
    if value is not None and not isinstance(value, Mapping):
        problem("change-control", "a mapping", "")
    approvals = _approvals(_mapping(spec.get("approvals")), problem)
    windows = tuple(
        window
        for index, item in enumerate(_list(spec.get("syncWindows"), "syncWindows", problem))
        if (window := _window(_mapping(item), f"syncWindows[{index}]", problem)) is not None
    )
    failure = spec.get("failureMode", "closed")
    if failure not in FAILURE_MODES:
        problem("failure-mode", "use open or closed", "failureMode")
        failure = "closed"
    gitops = _gitops(spec.get("gitops"), problem)
    control = ChangeControl(approvals=approvals, sync_windows=windows, failure_mode=failure, gitops=gitops)
    return control, problems


def from_stored(value: Mapping[str, Any] | None) -> ChangeControl:
    """What ``as_dict`` stored, read back (it was checked when stored)."""
    control, _ = parse_change_control(value or {}, where="changeControl")
    return control


def _approvals(spec: Mapping[str, Any], problem: Report) -> ApprovalRules:
    required = spec.get("required", 1)
    if not isinstance(required, int) or isinstance(required, bool) or not 1 <= required <= 10:
        problem("approvals", "a whole number from 1 to 10", "approvals.required")
        required = 1
    expires = spec.get("expiresAfter", "24h")
    if parse_duration(expires) is None:
        problem("duration", "a duration such as 24h, 2d or 1h30m", "approvals.expiresAfter")
        expires = "24h"
    second = spec.get("secondTeam", "")
    if not isinstance(second, str):
        problem("approvals", "a team's name", "approvals.secondTeam")
        second = ""
    kinds = spec.get("secondTeamKinds", list(SENSITIVE_KINDS))
    if not isinstance(kinds, list) or not all(isinstance(k, str) and k for k in kinds):
        problem("approvals", "a list of kinds", "approvals.secondTeamKinds")
        kinds = list(SENSITIVE_KINDS)
    return ApprovalRules(
        required=required, expires_after=expires, second_team=second, second_team_kinds=tuple(kinds)
    )


def _window(spec: Mapping[str, Any], at: str, problem: Report) -> SyncWindow | None:
    kind, schedule = spec.get("kind"), spec.get("schedule")
    duration, zone = spec.get("duration"), spec.get("timeZone", "UTC")
    ok = True
    if kind not in WINDOW_KINDS:
        problem("sync-window", "use allow or deny", f"{at}.kind")
        ok = False
    fields = schedule.split() if isinstance(schedule, str) else []
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        problem("sync-window", "a cron expression of five fields, such as '0 8 * * 1-5'", f"{at}.schedule")
        ok = False
    if not isinstance(duration, str) or parse_duration(duration) is None:
        problem("duration", "a duration such as 1h, 2d or 1h30m", f"{at}.duration")
        ok = False
    if not _zone_exists(zone):
        problem("time-zone", "an IANA time zone such as Europe/Berlin", f"{at}.timeZone")
        ok = False
    if not ok:
        return None
    return SyncWindow(kind=str(kind), schedule=" ".join(fields), duration=str(duration), time_zone=str(zone))


def _gitops(value: Any, problem: Report) -> GitTarget | None:
    if value is None:
        return None
    spec = _mapping(value)
    repository, branch, path = spec.get("repository"), spec.get("branch", "main"), spec.get("path", "")
    ok = True
    if not isinstance(repository, str) or not repository or repository.startswith("-"):
        problem("gitops", "a repository URL or path", "gitops.repository")
        ok = False
    if not isinstance(branch, str) or not _BRANCH.match(branch) or ".." in branch:
        problem("gitops", "a branch name", "gitops.branch")
        ok = False
    if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
        problem("gitops", "a relative folder inside the repository", "gitops.path")
        ok = False
    if not ok:
        return None
    return GitTarget(repository=str(repository), branch=str(branch), path=str(path).strip("/"))


def _zone_exists(zone: Any) -> bool:
    if not isinstance(zone, str) or not zone or ".." in zone or zone.startswith("/"):
        return False
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any, at: str, problem: Report) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problem("sync-window", "a list of windows", at)
        return []
    return value
