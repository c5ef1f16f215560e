"""``POST /api/v1/admission/decisions``: the admission webhooks ship the decisions they answered,
in batches; each is recorded once, by its AdmissionReview request uid, however often it arrives.

The token is checked before the body is read (``problems.AnonymousBodies``), the body is bounded by
the schema below, the right to record is ``authorising``'s; ``governance.admissiondecisions`` records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from leitplanke.core.results import Resource
from leitplanke.governance import admissiondecisions, authorising
from leitplanke.service import routes
from leitplanke.service.routes import ContextDep, PrincipalDep

# PostgreSQL keeps no NUL in text: refused here (422), never passed on to fail there (500)
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, Field(max_length=253, pattern=NO_NUL)]
Named = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
MAX_DECISIONS = 1000  # per batch: the webhook ships at most this many at once
MAX_RESULTS = 500  # per decision


def _aware(value: datetime) -> datetime:
    """In UTC; a time without a zone is taken as UTC, one that UTC cannot hold is refused."""
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range in UTC") from exc


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: Named
    rule: Named
    verdict: Literal["fail", "warn", "error", "skip"]
    severity: Literal["critical", "high", "medium", "low", "info"]
    message: str = Field(max_length=4096, pattern=NO_NUL)
    path: str = Field(default="", max_length=1000, pattern=NO_NUL)
    waiver: str = Field(default="", max_length=200, pattern=NO_NUL)


class ObjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    api_version: Named = Field(alias="apiVersion")
    kind: Named
    namespace: Text = ""
    name: Text = ""


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    uid: str = Field(min_length=1, max_length=128, pattern=NO_NUL)
    decided_at: datetime = Field(alias="decidedAt")
    app: str = Field(default="", max_length=100, pattern=NO_NUL)
    env: str = Field(default="", max_length=100, pattern=NO_NUL)
    mode: Literal["audit", "warn", "enforce", "mutate"]
    outcome: Literal["allow", "warn", "deny"]
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    user: str = Field(default="", max_length=200, pattern=NO_NUL)
    resource: ObjectIn
    results: list[ResultIn] = Field(default=[], max_length=MAX_RESULTS)

    _zone = field_validator("decided_at")(_aware)


class DecisionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decisions: list[DecisionIn] = Field(min_length=1, max_length=MAX_DECISIONS)


class RecordedOut(BaseModel):
    recorded: list[str]
    duplicates: list[str]
    unowned: list[str]
    findings: int


def _decision(item: DecisionIn) -> admissiondecisions.Decision:
    resource = item.resource
    return admissiondecisions.Decision(
        uid=item.uid,
        decided_at=item.decided_at,
        app=item.app,
        env=item.env,
        mode=item.mode,
        outcome=item.outcome,
        operation=item.operation,
        user=item.user,
        resource=Resource(resource.api_version, resource.kind, resource.namespace, resource.name),
        results=tuple(
            admissiondecisions.DecisionResult(
                policy=r.policy,
                rule=r.rule,
                verdict=r.verdict,
                severity=r.severity,
                message=r.message,
                path=r.path,
                waiver=r.waiver,
            )
            for r in item.results
        ),
    )


def api_router() -> APIRouter:
    router = APIRouter(tags=["admission"])

    @router.post("/admission/decisions", response_model=RecordedOut)
    def record(body: DecisionsIn, context: ContextDep, principal: PrincipalDep) -> dict[str, Any]:
        """Record the webhook's decisions (denials, warnings, audited violations) as findings of the
        owning app and environment and as audit records; a uid recorded before is a duplicate."""
        routes.authorise(context, principal, "admission.record", authorising.ADMISSION)
        outcome = admissiondecisions.record_decisions(
            context.database,
            decisions=[_decision(item) for item in body.decisions],
            actor=principal.actor,
            now=context.clock(),
            sla_days=context.settings.sla_days,
        )
        return outcome.as_dict()

    return router
