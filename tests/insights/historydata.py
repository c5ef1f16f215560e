"""A generated findings history with known answers, ingested through the real lifecycle: two apps over
four weekly scans (fixes, reopenings after a template change named by a revision, a waiver)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leitplanke.governance import findings, waivers
from leitplanke.settings import DEFAULT_SLA_DAYS

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
PROBES = ("require-probes", "liveness", "high")
PRIVILEGED = ("no-privileged", "containers", "critical")
NON_ROOT = ("run-as-non-root", "containers", "medium")
# day -> app -> (revision, failing (policy, rule, severity, workload) )
SCANS: dict[int, dict[str, tuple[str, list[tuple[tuple[str, str, str], str]]]]] = {
    0: {"checkout": ("", [(PROBES, "web"), (PRIVILEGED, "api")]), "warehouse": ("", [(PROBES, "stock")])},
    7: {"checkout": ("", [(PRIVILEGED, "api")]), "warehouse": ("", [])},
    14: {
        "checkout": ("tmpl-2", [(PROBES, "web"), (PRIVILEGED, "api")]),
        "warehouse": ("tmpl-2", [(PROBES, "stock"), (NON_ROOT, "stock")]),
    },
    21: {"checkout": ("", [(PROBES, "web")]), "warehouse": ("", [(PROBES, "stock"), (NON_ROOT, "stock")])},
}


def ingest_history(database: Any, result: Any) -> None:
    for day, apps in SCANS.items():
        now = T + timedelta(days=day)
        if day == 21:  # the web Deployment's missing probes waived before that scan
            request = waivers.WaiverRequest(
                app="checkout",
                env="prod",
                policies=("require-probes",),
                resources=(waivers.ResourceRef("Deployment", "web", "shop"),),
                justification="probes come with the next chart",
                expires=now + timedelta(days=30),
            )
            view = waivers.request_waiver(database, request, actor="token:dev", now=now, max_days=90)
            waivers.decide_waiver(database, view.id, approve=True, note="", actor="token:lead", now=now)
        for app, (revision, failing) in apps.items():
            results = [result(p, r, name, severity=s) for (p, r, s), name in failing]
            findings.ingest_scan(
                database,
                app=app,
                env="prod",
                results=results,
                summary={"revision": revision} if revision else {},
                generated_at="",
                actor="token:ci",
                now=now,
                sla_days=DEFAULT_SLA_DAYS,
            )
