"""``authorise(principal, action, resource)``: the one table of who may do what, decided without I/O."""

from __future__ import annotations

import pytest

from leitplanke.governance import access, authorising

ADMIN = access.Principal(1, "user:root", "root", "platform-admin", None, None)


def _of_shop(role: str) -> access.Principal:
    return access.Principal(2, "user:someone", role, role, "team-shop", 1)


SHOP_APP = authorising.for_app("checkout", "team-shop")
DATA_APP = authorising.for_app("warehouse", "team-data")


def _allowed(principal: access.Principal, action: str, resource: authorising.Resource) -> bool:
    return authorising.authorise(principal, action, resource).allowed


# (action, resource, the least team-shop role allowed on it or None when no team role is)
CASES = [
    ("scan.upload", SHOP_APP, "developer"),
    ("findings.read", SHOP_APP, "viewer"),
    ("slas.read", authorising.for_team("team-shop"), "viewer"),
    ("waivers.read", SHOP_APP, "viewer"),
    ("waivers.figures", SHOP_APP, "viewer"),
    ("waivers.export", SHOP_APP, "viewer"),
    ("waiver.read", authorising.for_waiver(1, "team-shop"), "viewer"),
    ("waiver.request", SHOP_APP, "developer"),
    ("waiver.renew", authorising.for_waiver(1, "team-shop"), "developer"),
    ("waiver.approve", authorising.for_waiver(1, "team-shop"), "approver"),
    ("waiver.reject", authorising.for_waiver(1, "team-shop"), "approver"),
    ("template.render", authorising.for_team("team-shop"), "developer"),
    ("changes.read", SHOP_APP, "viewer"),
    ("change.read", authorising.for_change(1, "team-shop"), "viewer"),
    ("change.create", SHOP_APP, "developer"),
    ("change.edit", authorising.for_change(1, "team-shop"), "developer"),
    ("change.submit", authorising.for_change(1, "team-shop"), "developer"),
    ("change.cancel", authorising.for_change(1, "team-shop"), "developer"),
    ("change.approve", authorising.for_change(1, "team-shop"), "approver"),
    ("change.reject", authorising.for_change(1, "team-shop"), "approver"),
    ("change.apply", authorising.for_change(1, "team-shop"), "developer"),
    ("change.override-window", authorising.for_environment("prod"), None),
    ("team.write", authorising.for_team("team-shop"), "admin"),
    ("app.write", SHOP_APP, "admin"),
    ("team.create", authorising.Resource("team:new"), None),
    ("environment.write", authorising.for_environment("prod"), None),
    ("audit.read", authorising.AUDIT, None),
    ("audit.verify", authorising.AUDIT, None),
    ("admission.record", authorising.ADMISSION, None),
    ("delivery.record", SHOP_APP, "developer"),
    ("delivery.read", SHOP_APP, "viewer"),
    ("incident.open", SHOP_APP, "developer"),
    ("incident.resolve", SHOP_APP, "developer"),
    ("dora.read", authorising.for_team("team-shop"), "viewer"),
    ("insights.read", authorising.for_team("team-shop"), "viewer"),
    ("insights.org", authorising.Resource("insights:org"), None),
]


@pytest.mark.parametrize(("action", "resource", "least"), CASES)
def test_each_action_needs_its_role_in_the_owning_team_and_platform_admin_may_do_all(
    action: str, resource: authorising.Resource, least: str | None
) -> None:
    allowed = [role for role in access.TEAM_ROLES if _allowed(_of_shop(role), action, resource)]
    wanted = [] if least is None else list(access.TEAM_ROLES[access.TEAM_ROLES.index(least) :])
    assert allowed == wanted
    assert _allowed(ADMIN, action, resource)


@pytest.mark.parametrize(("action", "resource", "least"), [c for c in CASES if c[2] is not None])
def test_no_team_role_reaches_into_another_teams_data(
    action: str, resource: authorising.Resource, least: str
) -> None:
    other = authorising.Resource(resource.target, ("team-data",))
    assert [role for role in access.TEAM_ROLES if _allowed(_of_shop(role), action, other)] == []


def test_the_table_covers_exactly_the_actions_the_tests_check() -> None:
    assert sorted(authorising.ACTIONS) == sorted([*(c[0] for c in CASES), "catalog.read", "dora.overview"])


def test_the_catalog_is_readable_by_every_authenticated_principal_of_any_team() -> None:
    rule = authorising.ACTIONS["catalog.read"]
    assert rule.scope is authorising.Scope.ANYONE
    data_viewer = access.Principal(3, "user:d", "d", "viewer", "team-data", 2)
    assert all(
        _allowed(p, "catalog.read", authorising.CATALOG) for p in (ADMIN, data_viewer, _of_shop("viewer"))
    )


def test_moving_an_app_needs_an_admin_of_both_teams() -> None:
    moving = authorising.Resource("app:checkout", ("team-shop", "team-data"))
    decision = authorising.authorise(_of_shop("admin"), "app.write", moving)
    assert (decision.allowed, decision.team, decision.reason) == (
        False,
        "team-data",
        "change an app needs the admin role for team team-data",
    )


def test_an_owned_resource_without_an_owner_is_refused_to_every_team_role() -> None:
    decision = authorising.authorise(_of_shop("admin"), "findings.read", authorising.Resource("app:ghost"))
    assert (decision.allowed, decision.reason) == (
        False,
        "read findings needs the viewer role for team (platform)",
    )


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError) as raised:
        authorising.authorise(ADMIN, "scan.delete", SHOP_APP)
    assert str(raised.value) == "unknown action 'scan.delete'"


def test_four_eyes_refuse_the_requester_whatever_their_role_and_token() -> None:
    requested = authorising.for_waiver(4, "team-shop", requester="user:someone")
    for principal in (
        _of_shop("admin"),
        access.Principal(9, "user:someone", "root", "platform-admin", None, None),
    ):
        decision = authorising.authorise(principal, "waiver.approve", requested)
        assert (decision.allowed, decision.reason) == (
            False,
            "user:someone requested waiver 4 and cannot approve it",
        )
    assert _allowed(ADMIN, "waiver.reject", requested)
    assert _allowed(_of_shop("approver"), "waiver.read", requested)  # four eyes only for deciding
