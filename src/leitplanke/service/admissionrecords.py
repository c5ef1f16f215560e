"""What the webhook records of one answered request: a decision as the service's
``POST /api/v1/admission/decisions`` takes it, built before the answer is sent, or None.

Pure: ``service/admission`` calls ``build_record`` and appends the bytes to the queue. Recorded are
denials, warnings and violations in audit mode (every result that fails, warns, errors or was waived);
a dry run, an exempt or skipped request and a clean pass are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from leitplanke.core.results import Result, Verdict
from leitplanke.service.admissionmodes import Decision
from leitplanke.sources.admission import Review

RECORDED_OUTCOMES = ("allow", "warn", "deny")
USER_CHARS = 200


def _kept(result: Result) -> bool:
    verdict = result.verdict
    return verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR) or (
        verdict is Verdict.SKIP and bool(result.waiver)
    )


def build_record(
    review: Review,
    decision: Decision,
    results: Sequence[Result],
    *,
    mode: str,
    app: str,
    env: str,
    now: datetime,
) -> bytes | None:
    """The decision's JSON, or None when there is nothing to record."""
    if review.dry_run or decision.outcome not in RECORDED_OUTCOMES:
        return None
    kept = [r for r in results if _kept(r)]
    if decision.allowed and not decision.warnings and not kept:
        return None
    document = review.document
    user = review.user_info.get("username")
    record: dict[str, Any] = {
        "uid": review.uid,
        "decidedAt": now.isoformat(),
        "app": app[:100],
        "env": env[:100],
        "mode": mode,
        "outcome": decision.outcome,
        "operation": review.operation,
        "user": user[:USER_CHARS] if isinstance(user, str) else "",
        "resource": {
            "apiVersion": document.api_version[:253],
            "kind": document.kind[:200] or "Unknown",
            "namespace": (review.namespace or document.namespace)[:253],
            "name": document.name[:253],
        },
        "results": [_result(r) for r in kept[:500]],
    }
    return orjson.dumps(record)


def _result(result: Result) -> dict[str, str]:
    return {
        "policy": result.policy[:200],
        "rule": result.rule[:200] or "-",
        "verdict": result.verdict.value,
        "severity": result.severity.label,
        "message": result.message[:4096],
        "path": result.location.path[:1000],
        "waiver": result.waiver[:200],
    }
