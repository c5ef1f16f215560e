"""`python bench/insights_bench.py`: insights over a year of history for 200 apps (daily scans, 50
findings each): the org report (target ≤ 10 s) and the scorecard (target ≤ 300 ms), cold and warm, in
process and as the endpoint of a service instance whose history was warmed at start.

The history is written straight into the tables (scans, findings, audit records and their leaves, as
the ingestion writes them, without the chain's hashes: nothing here verifies them), because 73,000 real
ingestions would take longer than the measurement. Each app has 50 findings, all new on day one, open
on day two; then every day ``--churn`` of them change (an open one is fixed, a fixed one reopens).
``--database`` picks SQLite (default, a temporary file) or PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from leitplanke import catalog
from leitplanke.governance import auditkeys
from leitplanke.insights import historycaches, kpis, reportdata, reportrendering, scopes, views
from leitplanke.settings import DEFAULT_SLA_DAYS
from leitplanke.store import databases
from leitplanke.store.rows import AuditLeaf, AuditRecord, Finding, Scan

START = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
POLICIES = [(f"policy-{i:02d}", "rule", ("critical", "high", "medium", "low")[i % 4]) for i in range(20)]


def seed(database: databases.Database, *, apps: int, days: int, per_app: int, churn: int) -> int:
    teams = [catalog.TeamSpec(f"team-{t:02d}") for t in range(10)]
    app_specs = [
        catalog.AppSpec(f"app-{a:03d}", f"team-{a % 10:02d}", lifecycle="production", cloud_native=a % 3 != 0)
        for a in range(apps)
    ]
    catalog.apply_catalog(
        database,
        catalog.Catalog(teams=teams, apps=app_specs, environments=[catalog.EnvironmentSpec("prod", "enforce")]),
        actor="bench",
        now=START,
    )
    rng = random.Random(1)
    scans: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    leaves: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    with database.reading() as session:
        from leitplanke.store import repositories

        app_ids = {a.name: a.id for a, _ in repositories.list_apps(session)}
        env_id = repositories.environment_by_name(session, "prod").id  # type: ignore[union-attr]
    seq, scan_id = 1000, 0
    states = {name: {f: ("new", START, None) for f in range(per_app)} for name in app_ids}
    last_scan: dict[str, int] = {}
    for day in range(days):  # in time order, as the chain is written
        for name, app_id in sorted(app_ids.items()):
            state = states[name]
            at = START + timedelta(days=day, seconds=app_id)
            scan_id += 1
            seq += 1
            last_scan[name] = scan_id
            changed: list[tuple[int, str, str]] = []
            if day == 0:
                changed = [(f, "", "new") for f in state]
            elif day == 1:
                changed = [(f, "new", "open") for f in state]
            else:
                for f in rng.sample(range(per_app), churn):
                    status = state[f][0]
                    changed.append((f, status, "fixed" if status != "fixed" else "reopened"))
            for idx, (f, before, after) in enumerate(changed):
                policy, rule, _ = POLICIES[f % len(POLICIES)]
                first, fixed = state[f][1], at if after == "fixed" else None
                state[f] = (after, first, fixed)
                body = {"fingerprint": f"{f:064x}", "from": before or None, "to": after, "policy": policy,
                        "rule": rule, "resource": f"Deployment/{name}/w{f}", "path": ""}
                leaves.append({"seq": seq, "idx": idx, "body": orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()})
            scans.append({"id": scan_id, "app_id": app_id, "env_id": env_id, "received_at": at, "generated_at": "",
                          "actor": "bench", "results": per_app, "failing": per_app, "summary": {}})
            records.append({"seq": seq, "at": at, "actor": "bench", "action": "scan.ingested", "target": f"scan:{scan_id}",
                            "details": {"app": name, "env": "prod", "scan": scan_id, "leaves": len(changed)},
                            "prev_hash": "0" * 64, "hash": "0" * 64, "alg": "sha256"})
    last_at = START + timedelta(days=days - 1)
    for name, app_id in sorted(app_ids.items()):
        for f, (status, first, fixed) in states[name].items():
            policy, rule, severity = POLICIES[f % len(POLICIES)]
            findings.append({"app_id": app_id, "env_id": env_id, "fingerprint": f"{f:064x}", "policy": policy,
                             "rule": rule, "api_version": "apps/v1", "kind": "Deployment", "namespace": name,
                             "name": f"w{f}", "path": "", "severity": severity, "message": "m", "status": status,
                             "waiver": "", "first_seen": first, "last_seen": last_at, "fixed_at": fixed,
                             "sla_due": first + timedelta(days=DEFAULT_SLA_DAYS[severity]),
                             "last_scan_id": last_scan[name], "waived_since": None, "paused_seconds": 0})
    with database.transaction() as session:
        for table, rows in ((Scan, scans), (AuditRecord, records), (AuditLeaf, leaves), (Finding, findings)):
            for start in range(0, len(rows), 20_000):
                session.execute(insert(table), rows[start : start + 20_000])
    return len(leaves)


def timed(label: str, work: Any) -> Any:
    began = time.perf_counter()
    value = work()
    print(f"{label}: {(time.perf_counter() - began) * 1000:.0f} ms", flush=True)
    return value


def service_calls(database: databases.Database, *, url: str, now: datetime) -> None:
    """The scorecard endpoint of a new service instance: its history is warmed in the background at
    start (``service.insightful.warm``), so its first call (the cold one) answers from memory."""
    from fastapi.testclient import TestClient

    from leitplanke.governance import access
    from leitplanke.service import create_app
    from leitplanke.settings import Settings

    name = f"bench-{time.time_ns()}"
    token = access.create_token(
        database, subject="user:bench", name=name, role="platform-admin", team=None, actor="bench", now=now
    ).token
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(Settings(database_url=url, migrate_on_start=False), database=database, clock=lambda: now)
    began = time.perf_counter()
    with TestClient(app) as client:
        app.state.insights_history.warmed.wait(timeout=600)
        took = (time.perf_counter() - began) * 1000
        print(f"service start-up warm-up (background): {took:.0f} ms", flush=True)

        def call() -> Any:
            answer = client.get("/api/v1/insights/scorecard?scope=org&period=30d", headers=headers)
            assert answer.status_code == 200, answer.text
            return answer

        for label in ("cold: first call of the instance", "warm 1", "warm 2"):
            timed(f"GET /api/v1/insights/scorecard, org ({label})", call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="")
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--findings", type=int, default=50)
    parser.add_argument("--churn", type=int, default=2)
    parser.add_argument("--seeded", action="store_true", help="--database holds the history already")
    parser.add_argument("--profile", action="store_true", help="print the warm scorecard's profile")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="insights-bench-"))
    url = args.database or f"sqlite:///{folder}/bench.db"
    keys = auditkeys.load_audit_keys(
        key_file=folder / "hmac.key", signing_key_file=folder / "signing.pem", checkpoint_dir=folder / "checkpoints"
    )
    database = databases.Database(url, audit=keys)
    databases.upgrade(database)
    if not args.seeded:
        leaves = timed("seed", lambda: seed(database, apps=args.apps, days=args.days, per_app=args.findings, churn=args.churn))
        print(f"history: {args.apps} apps × {args.days} days, {leaves} transitions", flush=True)
    now = START + timedelta(days=args.days)
    asked = views.Asked(scopes.Scope("org"), now, timedelta(days=30), kpis.default_kpis(), DEFAULT_SLA_DAYS)
    cache = historycaches.HistoryCache()

    def report() -> bytes:
        history, apps = views.load_scope(database, asked)
        data = reportdata.build_report(history, apps, asked, reportdata.Extras(controls={}))
        return reportrendering.render_markdown(data).encode()

    def scorecard() -> dict[str, Any]:
        history, apps = views.load_scope(database, asked, cache=cache)
        return views.scorecard(history, apps, asked, cache=cache)

    def scorecard_uncached() -> dict[str, Any]:
        history, apps = views.load_scope(database, asked, cache=cache)
        return views.scorecard(history, apps, asked)

    timed("org report, markdown (cold, no cache)", report)
    timed("scorecard, org and 10 teams (cold: loads the cache)", scorecard)
    for run in range(3):
        timed(f"scorecard, org and 10 teams (warm {run + 1})", scorecard)
    for run in range(3):
        timed(f"scorecard, history cached, measures computed again ({run + 1})", scorecard_uncached)
    service_calls(database, url=url, now=now)
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(scorecard)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    database.dispose()


if __name__ == "__main__":
    main()
