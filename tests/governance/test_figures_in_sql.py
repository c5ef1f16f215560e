"""/slas and /waivers/figures are counted by the database (GROUP BY): on a generated set of findings
and waivers they equal a straightforward computation over every row in Python, on both databases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from leitplanke.governance import slas, waiverfigures
from leitplanke.store import repositories
from leitplanke.store.rows import Finding, Scan, Waiver

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SCOPES = (("checkout", "team-shop"), ("warehouse", "team-data"))
OPEN = ("new", "open", "reopened")


def _finding(rng: random.Random, index: int, *, app_id: int, env_id: int, scan_id: int) -> dict[str, Any]:
    status = rng.choice(("new", "open", "reopened", "fixed", "fixed", "waived"))
    first = NOW - timedelta(seconds=rng.randrange(1, 200 * 86400))
    due = None if rng.random() < 0.1 else first + timedelta(seconds=rng.randrange(86400, 120 * 86400))
    fixed = None
    if status == "fixed" and rng.random() < 0.95:  # a few fixed rows without a fixed_at: not counted
        fixed = first + timedelta(seconds=rng.randrange(60, int((NOW - first).total_seconds())))
    return {
        "app_id": app_id,
        "env_id": env_id,
        "fingerprint": f"{index:064x}",
        "policy": "p",
        "rule": "r",
        "api_version": "v1",
        "kind": "Pod",
        "namespace": "ns",
        "name": f"pod-{index}",
        "path": "",
        "severity": "high",
        "message": "",
        "status": status,
        "waiver": "",
        "first_seen": first,
        "last_seen": first,
        "fixed_at": fixed,
        "sla_due": due,
        "last_scan_id": scan_id,
        "waived_since": None,
        "paused_seconds": 0,
    }


def _waiver(rng: random.Random, *, app_id: int, env_id: int) -> Waiver:
    requested = NOW - timedelta(seconds=rng.randrange(3600, 80 * 86400))
    decided = None if rng.random() < 0.2 else requested + timedelta(seconds=rng.randrange(60, 3600))
    return Waiver(
        app_id=app_id,
        env_id=env_id,
        policies=["p"],
        rules=[],
        resources=[{"kind": "Pod", "namespace": "ns", "name": "pod"}],
        justification="generated",
        status=rng.choice(("requested", "approved", "approved", "rejected", "expired")),
        requester="a",
        requested_at=requested,
        expires=NOW + timedelta(seconds=rng.randrange(-86400 * 10, 86400 * 30)),
        decided_by="b",
        decided_at=decided,
        decision_note="",
        expired_at=None,
        renews_id=None,
    )


def _generate(database: Any, *, findings: int, waivers_per_scope: int) -> None:
    rng = random.Random(19)
    with database.transaction() as session:
        env_ids = [repositories.environment_by_name(session, env).id for env in ("dev", "prod")]  # type: ignore[union-attr]
        index = 0
        for app, _team in SCOPES:
            app_id = repositories.app_by_name(session, app).id  # type: ignore[union-attr]
            for env_id in env_ids:
                scan = Scan(
                    app_id=app_id,
                    env_id=env_id,
                    received_at=NOW,
                    generated_at="",
                    actor="t",
                    results=0,
                    failing=0,
                    summary={},
                )
                scan_id = repositories.add_scan(session, scan)
                rows = []
                for _ in range(findings // 4):
                    rows.append(_finding(rng, index, app_id=app_id, env_id=env_id, scan_id=scan_id))
                    index += 1
                repositories.insert_findings(session, rows)
                for _ in range(waivers_per_scope):
                    session.add(_waiver(rng, app_id=app_id, env_id=env_id))
        session.flush()


def _rows(database: Any) -> tuple[list[tuple[str, str, Any]], list[tuple[str, str, Waiver]]]:
    with database.reading() as session:
        teams = dict(SCOPES)
        _, found = repositories.query_findings(session, repositories.FindingFilter(), limit=100_000)
        finding_rows = [(team, app, f) for f, app, team, _env in found]
        waiver_rows = [
            (team, app, w)
            for w, app, _env, team in repositories.query_waivers(session, repositories.WaiverFilter())
        ]
        assert {app for _, app, _ in finding_rows} == set(teams)
        return finding_rows, waiver_rows


def _expected_slas(finding_rows: list[tuple[str, str, Any]]) -> list[slas.Figures]:
    tallies: dict[tuple[str, str], list[float]] = {}
    for team, app, f in finding_rows:
        for key in ((team, ""), (team, app)):
            t = tallies.setdefault(key, [0, 0, 0, 0, 0.0])
            if f.status in OPEN:
                t[0] += 1
                t[1] += f.sla_due is not None and f.sla_due < NOW
            elif f.status == "fixed" and f.fixed_at is not None:
                t[2] += 1
                t[3] += f.sla_due is None or f.fixed_at <= f.sla_due
                t[4] += (f.fixed_at - f.first_seen).total_seconds()
    return [
        slas.Figures(
            team=team,
            app=app,
            open=int(t[0]),
            overdue=int(t[1]),
            fixed=int(t[2]),
            mean_days_to_remediate=round(t[4] / t[2] / 86400, 3) if t[2] else None,
            fixed_within_sla=round(t[3] / t[2], 4) if t[2] else None,
        )
        for (team, app), t in sorted(tallies.items())
    ]


def _expected_waivers(
    finding_rows: list[tuple[str, str, Any]], waiver_rows: list[tuple[str, str, Waiver]]
) -> list[waiverfigures.WaiverFigures]:
    counts: dict[tuple[str, str], list[Any]] = {}
    for team, app, f in finding_rows:
        for key in ((team, ""), (team, app)):
            c = counts.setdefault(key, [0, 0, []])
            c[0] += f.status == "waived"
            c[1] += f.status in OPEN
    for team, app, w in waiver_rows:
        if w.status == "approved" and w.expires > NOW:
            for key in ((team, ""), (team, app)):
                age = (NOW - (w.decided_at or w.requested_at)).total_seconds() / 86400
                counts.setdefault(key, [0, 0, []])[2].append(age)
    return [
        waiverfigures.WaiverFigures(
            team=team,
            app=app,
            active=len(ages),
            waived=waived,
            failing=failing,
            ratio=round(waived / (waived + failing), 4) if waived + failing else None,
            mean_age_days=round(sum(ages) / len(ages), 3) if ages else None,
            max_age_days=round(max(ages), 3) if ages else None,
        )
        for (team, app), (waived, failing, ages) in sorted(counts.items())
    ]


def test_sla_and_waiver_figures_from_sql_equal_a_computation_over_every_row(catalog_database: Any) -> None:
    db = catalog_database
    _generate(db, findings=2000, waivers_per_scope=12)
    finding_rows, waiver_rows = _rows(db)
    assert len(finding_rows) == 2000

    expected = _expected_slas(finding_rows)
    assert [f.app for f in expected] == ["", "warehouse", "", "checkout"]
    assert slas.build_figures(db, now=NOW) == expected
    assert slas.build_figures(db, now=NOW, team="team-data") == expected[:2]
    assert slas.build_figures(db, now=NOW, app="checkout") == expected[2:]

    expected_waivers = _expected_waivers(finding_rows, waiver_rows)
    assert all(f.active for f in expected_waivers)
    assert waiverfigures.build_figures(db, now=NOW) == expected_waivers
    assert waiverfigures.build_figures(db, now=NOW, team="team-shop") == expected_waivers[2:]


def test_a_findings_page_and_its_total_equal_the_joined_query_under_every_filter(
    catalog_database: Any,
) -> None:
    _generate(catalog_database, findings=400, waivers_per_scope=0)
    with catalog_database.reading() as session:
        team_ids = frozenset(repositories.team_names_by_id(session))
        filters = [
            repositories.FindingFilter(),
            repositories.FindingFilter(app="checkout"),
            repositories.FindingFilter(team="team-data", env="prod"),
            repositories.FindingFilter(team_ids=frozenset(sorted(team_ids)[:1]), status="open"),
            repositories.FindingFilter(env="dev", policy="p", severity="high", overdue_at=NOW),
            repositories.FindingFilter(app="checkout", team="team-data"),
        ]
        for where in filters:
            joined = session.execute(repositories.finding_query([Finding.id], where).order_by(Finding.id))
            expected = [row[0] for row in joined]
            total, page = repositories.query_findings(
                session, where, limit=7, after=expected[2] if expected else 0
            )
            assert (total, [f.id for f, *_ in page]) == (len(expected), expected[3:10]), where
