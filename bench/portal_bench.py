"""`python bench/portal_bench.py`: server time of the portal's pages with 10,000 findings in the database.

Seeds a fresh database (SQLite in a temporary folder, or ``--database URL``, e.g. a PostgreSQL schema) with
the test catalog, ``--findings`` findings of one app (severities and statuses mixed, over ``--apps`` apps of
one team), a portal user; signs in through the form and requests every page ``--runs`` times in-process
(FastAPI's TestClient: the application's own time, rendering included, without network). Prints per page
the median, p95 and max in milliseconds and whether the median is within the goal (200 ms).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from leitplanke import catalog
from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.governance import auditkeys, findings, portalusers, waivers
from leitplanke.service import create_app
from leitplanke.settings import Settings
from leitplanke.store import databases

GOAL_MS = 200.0
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEVERITIES = ("critical", "high", "medium", "low", "info")
CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-shop}
spec: {type: team}
---
apiVersion: leitplanke.dev/v1
kind: Environment
metadata: {name: prod}
spec: {enforcement: enforce, requiresApproval: true}
"""


def _results(count: int, *, offset: int) -> list[Result]:
    return [
        Result(
            policy=f"policy-{n % 40:02d}",
            rule="rule",
            resource=Resource("apps/v1", "Deployment", f"ns-{n % 17}", f"web-{n + offset:05d}"),
            verdict=Verdict("fail"),
            severity=Severity.parse(SEVERITIES[n % len(SEVERITIES)]),
            message=f"finding {n} of the benchmark",
            location=Location(file=f"web-{n}.yaml", line=1, path="spec.template.spec.containers[0]"),
        )
        for n in range(count)
    ]


def seed(database: databases.Database, *, total: int, apps: int) -> None:
    parsed, problems = catalog.parse_catalog(CATALOG)
    assert not problems, problems
    catalog.apply_catalog(database, parsed, actor="bench", now=NOW)
    per_app = total // apps
    for index in range(apps):
        app = f"app-{index:02d}"
        catalog.put_app(database, catalog.AppSpec(name=app, owner="team-shop"), actor="bench", now=NOW)
        findings.ingest_scan(
            database,
            app=app,
            env="prod",
            results=_results(per_app, offset=index * per_app),
            summary={},
            generated_at="",
            actor="bench",
            now=NOW - timedelta(days=40),
            sla_days={"critical": 15, "high": 30},
        )
        request = waivers.WaiverRequest(
            app=app,
            env="prod",
            policies=("policy-00",),
            resources=(waivers.ResourceRef("Deployment", "web", "ns-0"),),
            justification="bench",
            expires=NOW + timedelta(days=30),
        )
        waivers.request_waiver(database, request, actor="bench", now=NOW, max_days=90)
    portalusers.put_user(
        database,
        login="bench",
        password="benchmark password",
        role="developer",
        team="team-shop",
        actor="bench",
        now=NOW,
    )


def measure(client: TestClient, url: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (url, answer.status_code)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    keys = auditkeys.load_audit_keys(
        key_file=folder / "hmac.key",
        signing_key_file=folder / "signing.pem",
        checkpoint_dir=folder / "checkpoints",
    )
    database = databases.Database(args.database or f"sqlite:///{folder / 'bench.db'}", audit=keys)
    databases.upgrade(database)
    started = time.perf_counter()
    seed(database, total=args.findings, apps=args.apps)
    print(
        f"seeded {args.findings} findings over {args.apps} apps on {database.dialect} "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    app = create_app(
        Settings(database_url=database.url, migrate_on_start=False), database=database, clock=lambda: NOW
    )
    pages = {
        "team home": "/portal/teams/team-shop",
        "app": "/portal/apps/app-00",
        "findings": "/portal/findings",
        "findings, last page": f"/portal/findings?page={args.findings // 25}",
        "findings, filtered (htmx)": "/portal/findings?severity=critical&overdue=true",
        "finding": "/portal/findings/1",
        "waivers": "/portal/waivers",
        "policy catalog": "/portal/policies?q=privileged",
    }
    with TestClient(app, base_url="https://testserver") as client:
        form = client.get("/portal/sign-in")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        client.post(
            "/portal/sign-in",
            data={"csrf": token.group(1), "login": "bench", "password": "benchmark password"},
        )
        client.get("/portal/policies")  # the catalog's policies are loaded on first use: not in the figures
        print(f"{'page':28} {'median':>8} {'p95':>8} {'max':>8}  goal {GOAL_MS:.0f} ms")
        within = True
        for name, url in pages.items():
            headers: dict[str, Any] = {"HX-Request": "true"} if "htmx" in name else {}
            client.headers.update(headers)
            times = sorted(measure(client, url, args.runs))
            for key in headers:
                del client.headers[key]
            median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
            within &= median <= GOAL_MS
            verdict = "ok" if median <= GOAL_MS else "SLOW"
            print(f"{name:28} {median:8.1f} {p95:8.1f} {times[-1]:8.1f}  {verdict}")
    database.dispose()
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
