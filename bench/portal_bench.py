"""`python bench/portal_bench.py`: server time of the portal's pages with 10,000 findings in the database.

Seeds a fresh database (SQLite in a temporary folder, or ``--database URL``, e.g. a PostgreSQL schema) with
the test catalog, ``--findings`` findings (severities and statuses mixed, over ``--apps`` apps of one team),
``--changes`` change requests in every state (manifests and diffs of a web service's size, approvals where
the state has them), an approver and a platform-admin of the portal; signs in through the form and requests
every page ``--runs`` times in-process (FastAPI's TestClient: the application's own time, rendering
included, without network). Prints per page the median, p95 and max in milliseconds and whether the median
is within the goal (200 ms).
"""

from __future__ import annotations

import argparse
import html
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
from leitplanke.delivery import gitops
from leitplanke.governance import auditkeys, findings, portalusers, waivers
from leitplanke.service import create_app
from leitplanke.settings import Settings
from leitplanke.store import databases
from leitplanke.store.changerows import ChangeApproval, ChangeRequest
from leitplanke.store.rows import App, Environment

GOAL_MS = 200.0
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEVERITIES = ("critical", "high", "medium", "low", "info")
PASSWORD = "benchmark password"
# the states of the seeded changes, in turn: submitted ones wait in the approver's inbox
STATES = ("submitted", "approved", "deployed", "draft", "rejected", "applied", "submitted", "cancelled")
STATES += ("expired", "failed", "deployed", "submitted")
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
    for login, role, team in (("bench", "approver", "team-shop"), ("bench-admin", "platform-admin", None)):
        portalusers.put_user(
            database, login=login, password=PASSWORD, role=role, team=team, actor="bench", now=NOW
        )


def manifests_of(app: str, n: int, *, layout: int = 0) -> str:
    """A web service's manifests (about 9 KB, as the library's web-service renders): its image tag and
    one label follow ``n`` (an ordinary change: a diff of a few lines); ``layout`` changes every
    field's text (a rewrite: a diff of the whole file)."""
    parts = []
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
        labels = "".join(f"    label-{k}: value-{k}-{layout}\n" for k in range(10))
        spec = "".join(
            f"  field{k}:\n    nested: {k}\n    text: 'field {k} of {app}, {layout}'\n" for k in range(25)
        )
        parts.append(
            f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {app}\n  labels:\n{labels}"
            f"    release: r{n}\nspec:\n  image: registry.example/{app}:1.{n}\n{spec}"
        )
    return "---\n".join(parts)


def seed_changes(database: databases.Database, *, total: int, apps: int) -> None:
    """``total`` changes over the apps, their states in turn (``STATES``), by one developer; approved and
    later states with an approval of the current diff (and a commit once applied)."""
    with database.transaction() as session:
        app_ids = [session.query(App.id).filter(App.name == f"app-{i:02d}").scalar() for i in range(apps)]
        env_id = session.query(Environment.id).filter(Environment.name == "prod").scalar()
        for n in range(total):
            app, status = f"app-{n % apps:02d}", STATES[n % len(STATES)]
            # the first change of an app adds its file; every tenth rewrites it; the rest change a few lines
            base = manifests_of(app, n - apps, layout=n // 10) if n >= apps else ""
            manifests = manifests_of(app, n, layout=(n // 10) + (n % 10 == 0))
            diff = gitops.render_diff(base, manifests, file=f"prod/{app}.yaml")
            diff_hash = gitops.hash_diff(diff)
            decided = status not in ("draft", "submitted", "cancelled")
            applied = status in ("applied", "deployed", "failed")
            at = NOW - timedelta(hours=total - n)
            row = ChangeRequest(
                app_id=app_ids[n % apps],
                env_id=env_id,
                title=f"Change {n} of {app}",
                status=status,
                author="user:dev via portal:dev",
                author_subject="user:dev",
                manifests=manifests,
                diff=diff,
                diff_hash=diff_hash,
                approved_hash=diff_hash if decided and status not in ("rejected",) else None,
                preflight={"mode": "enforce", "documents": 5, "results": [], "passed": 105, "problems": []},
                preflight_blocking=False,
                created_at=at,
                updated_at=at,
                decided_by="user:lead" if decided else "",
                decision_note="",
                applied_by="user:dev" if applied else "",
                applied_at=at if applied else None,
                commit_sha=f"{n:040x}" if applied else None,
                window_override="",
                finished_at=at if status in ("deployed", "failed") else None,
            )
            session.add(row)
            session.flush()
            if row.approved_hash is not None:
                session.add(
                    ChangeApproval(
                        change_id=row.id,
                        author_subject="user:dev",
                        approver="user:lead via portal:lead",
                        approver_subject="user:lead",
                        team="team-shop",
                        diff_hash=diff_hash,
                        approved_at=at,
                        expires_at=at + timedelta(days=7),
                    )
                )


def sign_in(client: TestClient, login: str) -> None:
    form = client.get("/portal/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    client.post("/portal/sign-in", data={"csrf": token.group(1), "login": login, "password": PASSWORD})


def form_of(page: str) -> dict[str, str]:
    """A form's fields as the page shows them: inputs, textareas, the selected (or first) options."""
    fields = dict(
        re.findall(r'<input id="[^"]*" name="([^"]+)" type="(?:text|hidden)"[^>]*value="([^"]*)"', page)
    )
    fields.update(re.findall(r'name="(csrf)" value="([^"]+)"', page))
    fields.update(re.findall(r'<textarea id="[^"]*" name="([^"]+)"[^>]*>([^<]*)</textarea>', page))
    for name, body in re.findall(r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body) or re.search(
            r'<option value="([^"]*)"', body
        )
        fields[name] = chosen.group(1) if chosen else ""
    return {k: html.unescape(v) for k, v in fields.items()}


def measure(client: TestClient, url: str, runs: int, *, data: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = client.get(url) if data is None else client.post(url, data=data)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:2000])
    return times


def pages_of(args: argparse.Namespace, change_id: int) -> dict[str, str]:
    """Each page timed: its name and address (``htmx`` in the name: asked as htmx's partial; ``admin``:
    as the platform-admin, since only they read the audit trail)."""
    return {
        "team home": "/portal/teams/team-shop",
        "app": "/portal/apps/app-00",
        "findings": "/portal/findings",
        "findings, last page": f"/portal/findings?page={args.findings // 25}",
        "findings, filtered": "/portal/findings?app=app-01&severity=high&status=open",
        "findings, filtered (htmx)": "/portal/findings?severity=critical&overdue=true",
        "finding": "/portal/findings/1",
        "waivers": "/portal/waivers",
        "waiver request form": "/portal/waivers/new?finding=1",
        "approvals inbox": "/portal/changes",
        "change (a few lines)": f"/portal/changes/{change_id}",
        "change (rewritten file)": f"/portal/changes/{change_id - (change_id - 1) % 10}",
        "library": "/portal/library",
        "template form": "/portal/library/web-service",
        "template check (POST)": "/portal/library/web-service",
        "policy catalog": "/portal/policies",
        "policy catalog search": "/portal/policies?q=privileged",
        "audit trail (admin)": "/portal/audit",
        "scorecard": "/portal/scorecard",
        "trends": "/portal/trends",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=5)
    parser.add_argument("--changes", type=int, default=300)
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
    seed_changes(database, total=args.changes, apps=args.apps)
    print(
        f"seeded {args.findings} findings over {args.apps} apps and {args.changes} changes on "
        f"{database.dialect} in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    app = create_app(
        Settings(database_url=database.url, migrate_on_start=False), database=database, clock=lambda: NOW
    )
    with (
        TestClient(app, base_url="https://testserver") as client,
        TestClient(app, base_url="https://testserver") as admin,
    ):
        sign_in(client, "bench")
        sign_in(admin, "bench-admin")
        client.get("/portal/policies")  # the catalog's policies are loaded on first use: not in the figures
        check = form_of(client.get("/portal/library/web-service").text)
        check.update(app="new-service", environment="prod", action="check")
        assert client.post("/portal/library/web-service", data=check).status_code == 200  # compiles once
        print(f"{'page':28} {'median':>8} {'p95':>8} {'max':>8}  goal {GOAL_MS:.0f} ms")
        within = True
        for name, url in pages_of(args, change_id=args.changes).items():
            browser = admin if "admin" in name else client
            headers: dict[str, Any] = {"HX-Request": "true"} if "htmx" in name else {}
            browser.headers.update(headers)
            times = sorted(measure(browser, url, args.runs, data=check if "POST" in name else None))
            for key in headers:
                del browser.headers[key]
            median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
            within &= median <= GOAL_MS
            verdict = "ok" if median <= GOAL_MS else "SLOW"
            print(f"{name:28} {median:8.1f} {p95:8.1f} {times[-1]:8.1f}  {verdict}")
    database.dispose()
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
