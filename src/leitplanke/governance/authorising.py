"""Who may do what, decided in one place: ``authorise(principal, action, resource)`` over one table.

Every route of the service calls it (through ``service.routes.authorise``), and so will the CLI, the
admission webhook and the portal. ``authorise`` is pure; ``enforce`` adds what a refusal costs: the
denial goes to the instance's ``denials.DenialLog`` (audited, aggregated) and ``Forbidden`` is raised.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from leitplanke.governance import errors
from leitplanke.governance.access import Principal
from leitplanke.governance.denials import Denial, DenialLog
from leitplanke.store import repositories
from leitplanke.store.databases import Database


class Scope(enum.Enum):
    """How the team that grants the role is found from the resource."""

    OWNER = "owner"  # each team the resource belongs to (``Resource.teams``); none: refused
    PLATFORM = "platform"  # no team: platform-admin only
    ANYONE = "anyone"  # every authenticated principal, whatever its team


@dataclass(frozen=True, slots=True)
class Rule:
    role: str  # the least role needed (platform-admin is allowed everything four eyes allow)
    scope: Scope
    wanted: str  # the action in words, for messages and the audit
    four_eyes: bool = False  # never by the subject that requested the resource, whatever its role


_OWNER, _PLATFORM, _ANYONE = Scope.OWNER, Scope.PLATFORM, Scope.ANYONE

# The one table. Team-owned data (findings, figures, waivers, scans) needs a role in the owning team;
# listings without a filter are scoped to the caller's own team (``own``) and then filtered to it.
# The catalog (teams, apps and their owners, environments) is organisation metadata, readable by every
# authenticated principal, as Backstage's catalog is: teams need it to know whom an app belongs to and
# whom to ask for a waiver, and it holds no findings. Changing it needs an admin: of the team for teams
# and apps (of both teams when an app moves), platform-admin for new teams and for environments.
# Deciding a waiver is four-eyes: not by the person who requested it (``governance.waivers`` checks
# it again in the deciding transaction, and for requests made before subjects).
ACTIONS: Mapping[str, Rule] = MappingProxyType(
    {
        "scan.upload": Rule("developer", _OWNER, "upload a scan"),
        "findings.read": Rule("viewer", _OWNER, "read findings"),
        "slas.read": Rule("viewer", _OWNER, "read SLA figures"),
        "waivers.read": Rule("viewer", _OWNER, "read waivers"),
        "waivers.figures": Rule("viewer", _OWNER, "read waiver figures"),
        "waivers.export": Rule("viewer", _OWNER, "export waivers"),
        "waiver.read": Rule("viewer", _OWNER, "read a waiver"),
        "waiver.request": Rule("developer", _OWNER, "request a waiver"),
        "waiver.renew": Rule("developer", _OWNER, "renew a waiver"),
        "waiver.approve": Rule("approver", _OWNER, "approve a waiver", four_eyes=True),
        "waiver.reject": Rule("approver", _OWNER, "reject a waiver", four_eyes=True),
        # change control (delivery): approving and rejecting are four-eyes, never by the author; a
        # platform-admin alone applies a change outside the environment's sync windows
        "changes.read": Rule("viewer", _OWNER, "read changes"),
        "change.read": Rule("viewer", _OWNER, "read a change"),
        "change.create": Rule("developer", _OWNER, "propose a change"),
        "change.edit": Rule("developer", _OWNER, "edit a change"),
        "change.submit": Rule("developer", _OWNER, "submit a change"),
        "change.cancel": Rule("developer", _OWNER, "cancel a change"),
        "change.approve": Rule("approver", _OWNER, "approve a change", four_eyes=True),
        "change.reject": Rule("approver", _OWNER, "reject a change", four_eyes=True),
        "change.apply": Rule("developer", _OWNER, "apply a change"),
        "change.override-window": Rule("admin", _PLATFORM, "apply a change outside its sync windows"),
        "catalog.read": Rule("viewer", _ANYONE, "read the catalog"),
        "template.render": Rule("developer", _OWNER, "render a template"),
        "team.create": Rule("admin", _PLATFORM, "change a team"),
        "team.write": Rule("admin", _OWNER, "change a team"),
        "app.write": Rule("admin", _OWNER, "change an app"),
        "environment.write": Rule("admin", _PLATFORM, "change an environment"),
        "audit.read": Rule("admin", _PLATFORM, "read the audit log"),
        "audit.verify": Rule("admin", _PLATFORM, "verify the audit log"),
        # the admission webhooks record decisions of every team's apps: a platform-wide workload
        "admission.record": Rule("admin", _PLATFORM, "record admission decisions"),
        # delivery: events (webhooks with a token) and incidents of an app need a developer of its team;
        # DORA figures of an app or team its viewers, of a value stream or the organisation anyone
        "delivery.record": Rule("developer", _OWNER, "record a delivery event"),
        "delivery.read": Rule("viewer", _OWNER, "read deployments and incidents"),
        "incident.open": Rule("developer", _OWNER, "open an incident"),
        "incident.resolve": Rule("developer", _OWNER, "resolve an incident"),
        "dora.read": Rule("viewer", _OWNER, "read DORA figures"),
        "dora.overview": Rule("viewer", _ANYONE, "read DORA figures of a value stream or the organisation"),
        # insights: a team's (or its app's) scorecard and trends; the organisation's name every team's apps
        "insights.read": Rule("viewer", _OWNER, "read insights"),
        "insights.org": Rule("viewer", _PLATFORM, "read the organisation's insights"),
    }
)


@dataclass(frozen=True, slots=True)
class Resource:
    target: str  # as audited: ``app:checkout``, ``team:team-shop``, ``waiver:3``, ``audit``
    teams: tuple[str, ...] = ()  # the owning teams; the role is needed in each
    requester: str | None = None  # the subject that requested it (waivers), for four-eyes rules


def for_app(name: str, owner: str) -> Resource:
    return Resource(f"app:{name}", (owner,))


def for_team(name: str) -> Resource:
    return Resource(f"team:{name}", (name,))


def for_waiver(waiver_id: int, owner: str, *, requester: str | None = None) -> Resource:
    return Resource(f"waiver:{waiver_id}", (owner,), requester=requester)


def for_change(change_id: int, owner: str, *, author: str | None = None) -> Resource:
    return Resource(f"change:{change_id}", (owner,), requester=author)


def for_environment(name: str) -> Resource:
    return Resource(f"environment:{name}")


def own(principal: Principal) -> Resource:
    """The caller's own team: what an unfiltered listing covers."""
    return Resource(f"team:{principal.team}", (principal.team,) if principal.team else ())


AUDIT = Resource("audit")
ADMISSION = Resource("admission")
CATALOG = Resource("catalog")


def listing(database: Database, principal: Principal, *, team: str | None, app: str | None) -> list[Resource]:
    """What a listing filtered by ``team`` and ``app`` reads: those, then the caller's own team."""
    resources = [] if team is None else [for_team(team)]
    if app is not None:
        with database.reading() as session:
            owner = repositories.app_owner(session, app)
        if owner is not None:
            resources.append(for_app(app, owner))
    return [*resources, own(principal)]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    action: str
    rule: Rule
    team: str | None = None  # the team whose role was missing; None: a platform-wide action
    own_request: str = ""  # refused by four eyes: the message (the requester cannot decide)

    @property
    def reason(self) -> str:
        if self.own_request:
            return self.own_request
        return f"{self.rule.wanted} needs the {self.rule.role} role for team {self.team or '(platform)'}"


def authorise(principal: Principal, action: str, resource: Resource) -> Decision:
    """May ``principal`` do ``action`` (a key of ``ACTIONS``) to ``resource``?"""
    rule = ACTIONS.get(action)
    if rule is None:
        raise ValueError(f"unknown action {action!r}")  # a programming error, never a caller's
    return decide(principal, action=action, rule=rule, resource=resource)


def decide(principal: Principal, *, action: str, rule: Rule, resource: Resource) -> Decision:
    if rule.four_eyes and resource.requester == principal.subject:  # platform-admins included
        kind, _, name = resource.target.partition(":")
        verb = rule.wanted.split()[0]
        message = f"{principal.subject} requested {kind} {name} and cannot {verb} it"
        return Decision(False, action, rule, own_request=message)
    if principal.is_platform_admin or rule.scope is Scope.ANYONE:
        return Decision(True, action, rule)
    if rule.scope is Scope.PLATFORM:
        return Decision(False, action, rule)
    if not resource.teams:  # an owned resource without an owner: fail closed
        return Decision(False, action, rule)
    for owner in resource.teams:
        if not principal.allows(rule.role, team=owner):
            return Decision(False, action, rule, team=owner)
    return Decision(True, action, rule)


def denial(principal: Principal, decision: Decision, resource: Resource) -> Denial:
    details: dict[str, Any] = {"wanted": decision.rule.wanted, "action": decision.action}
    if decision.own_request:
        details["reason"] = f"the requester cannot decide their own {resource.target.partition(':')[0]}"
        details["subject"] = principal.subject
    else:
        details.update(role=decision.rule.role, team=decision.team, have=principal.role, of=principal.team)
    return Denial(
        subject=principal.subject,
        actor=principal.actor,
        action=decision.action,
        target=resource.target,
        details=details,
    )


def enforce(
    principal: Principal,
    action: str,
    resource: Resource,
    *,
    database: Database,
    denials: DenialLog,
    now: datetime,
) -> None:
    """Return if allowed; else log the denial (audited, aggregated per minute) and raise Forbidden."""
    decision = authorise(principal, action, resource)
    refuse(principal, decision, resource, database=database, denials=denials, now=now)


def refuse(
    principal: Principal,
    decision: Decision,
    resource: Resource,
    *,
    database: Database,
    denials: DenialLog,
    now: datetime,
) -> None:
    if decision.allowed:
        return
    denials.deny(database, denial(principal, decision, resource), now=now)
    raise errors.Forbidden(decision.reason)
