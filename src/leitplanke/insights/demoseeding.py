"""The insights part of the demo data (``leitplanke db seed-demo``, ``make run``): three weeks of scans in
which one policy is fixed and breaks again in several apps (a recurring violation), and the runtime
findings of the demo's generated series (``insights.demoseries``) judged and ingested as the real path does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from leitplanke.core.results import Result
from leitplanke.governance import findings
from leitplanke.insights import containers, demoseries, leaks, runtimefindings
from leitplanke.store.databases import Database

RECURRING_POLICY = "require-probes"
RUNTIME_ENV = "prod"  # beside the CI scans of prod: runtime findings have a source of their own
LEAK_WINDOW = timedelta(hours=48)
LEAK_STEP_SECONDS = 300.0
# days before now: failing, then the policy fixed, then failing again (a template change, say)
HISTORY = ((21, True), (14, False), (7, True))


def seed_scan_history(
    database: Database,
    *,
    results: Mapping[str, Sequence[Result]],
    env: str,
    now: datetime,
    sla_days: Mapping[str, int],
    actor: str = "demo",
) -> list[findings.Ingested]:
    """Per app of ``results``, a scan 21, 14 and 7 days before ``now``: its results, then without
    ``RECURRING_POLICY``, then with it again."""
    done = []
    for days, with_policy in HISTORY:
        at = now - timedelta(days=days)
        for app, found in sorted(results.items()):
            kept = [r for r in found if with_policy or r.policy != RECURRING_POLICY]
            summary = {"revision": f"demo-{days}d"}
            done.append(
                findings.ingest_scan(
                    database,
                    app=app,
                    env=env,
                    results=kept,
                    summary=summary,
                    generated_at=at.isoformat(),
                    actor=actor,
                    now=at,
                    sla_days=sla_days,
                )
            )
    return done


def seed_runtime(
    database: Database, *, now: datetime, sla_days: Mapping[str, int], actor: str = "demo"
) -> tuple[list[Result], list[findings.Ingested]]:
    """The demo series' last two days judged (``insights.leaks``) and ingested as runtime findings of
    the app named like each namespace; the failing results and the ingestions."""
    series = containers.load_containers(
        demoseries.DemoSeries(), start=now - LEAK_WINDOW, end=now, step_seconds=LEAK_STEP_SECONDS
    )
    results = leaks.runtime_results(leaks.judge_all(series))
    owners = {c.namespace: c.namespace for c in series}
    done, _ = runtimefindings.ingest_runtime(
        database, results=results, owners=owners, env=RUNTIME_ENV, actor=actor, now=now, sla_days=sla_days
    )
    return results, done
