"""What the webhook records of one answered request: a decision as the service's
``POST /api/v1/admission/decisions`` takes it, built before the answer is sent, or None.

Pure: ``service/admission`` calls ``build_record`` and appends the bytes to the queue. Recorded are
denials, warnings and violations in audit mode (every result that fails, warns, errors or was waived);
a dry run, an exempt or skipped request and a clean pass are not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from leitplanke.core.results import Result, Verdict
from leitplanke.service.admissionmodes import Decision
from leitplanke.sources.admission import Review

RECORDED_OUTCOMES = ("allow", "warn", "deny")
USER_CHARS = 200
UID_CHARS = 128


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
        "uid": record_uid(review.uid),
        "decidedAt": now.isoformat(),
        "app": _text(app, 100),
        "env": _text(env, 100),
        "mode": mode,
        "outcome": decision.outcome,
        "operation": review.operation,
        "user": _text(user, USER_CHARS) if isinstance(user, str) else "",
        "resource": {
            "apiVersion": _text(document.api_version, 200) or "unknown",
            "kind": _text(document.kind, 200) or "Unknown",
            "namespace": _text(review.namespace or document.namespace, 253),
            "name": _text(document.name, 253),
        },
        "results": [_result(r) for r in kept[:500]],
    }
    return orjson.dumps(record)


def record_uid(uid: str) -> str:
    """The request uid as the service keys it: itself when it fits (an API server's uid is a UUID),
    else a digest of it, so that a hostile uid still makes one well-formed key."""
    if len(uid) <= UID_CHARS and "\x00" not in uid:
        return uid
    return "sha256:" + hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()


def _text(value: str, limit: int) -> str:
    """Within the service's limit and without NUL (which PostgreSQL does not keep): what the service
    accepts, so that one hostile object never blocks the queue behind it."""
    return value[:limit].replace("\x00", "\ufffd")


def _result(result: Result) -> dict[str, str]:
    return {
        "policy": _text(result.policy, 200) or "-",
        "rule": _text(result.rule, 200) or "-",
        "verdict": result.verdict.value,
        "severity": result.severity.label,
        "message": _text(result.message, 4096),
        "path": _text(result.location.path, 1000),
        "waiver": _text(result.waiver, 200),
    }
