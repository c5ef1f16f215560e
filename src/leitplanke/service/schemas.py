"""Request and response bodies of the REST API (Pydantic v2); parsing only, no behaviour.

A scan upload is read as a stream by ``service.uploadparsing``, not by a model: ``scan_upload_body``
only documents it in the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leitplanke.governance import uploadformats

Name = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# free text the store keeps: PostgreSQL's text cannot hold NUL, so a NUL is refused here (422), not there
NO_NUL = r"^[^\x00]*$"

_TEXT = {"type": "string"}
_RESULT = {
    "type": "object",
    "required": ["policy", "rule", "verdict", "severity", "resource"],
    "properties": {
        "policy": {"type": "string", "pattern": f"^{uploadformats.POLICY.pattern}$", "maxLength": 253},
        "rule": {"type": "string", "pattern": f"^{uploadformats.RULE.pattern}$", "maxLength": 253},
        "verdict": {"enum": ["pass", "fail", "warn", "error", "skip"]},
        "severity": {"enum": ["critical", "high", "medium", "low", "info"]},
        "message": {"type": "string", "maxLength": uploadformats.MAX_MESSAGE},
        "resource": {
            "type": "object",
            "properties": {
                "apiVersion": _TEXT,
                "kind": _TEXT,
                "namespace": _TEXT,
                "name": _TEXT,
                "domain": _TEXT,
            },
        },
        "location": {"type": "object", "properties": {"path": {"type": "string", "maxLength": 1000}}},
        "waiver": {"type": ["string", "null"]},
    },
}
_APP = {"type": "string", "pattern": f"^{uploadformats.APP.pattern}$", "maxLength": 100}


def scan_upload_body() -> dict[str, Any]:
    """The OpenAPI request body of ``POST /scans``: the route reads the raw body as a stream itself."""
    report = {
        "type": "object",
        "required": ["app", "env", "scan"],
        "properties": {
            "app": _APP,
            "env": _APP,
            "scan": {
                "type": "object",
                "required": ["schemaVersion", "results"],
                "properties": {
                    "schemaVersion": {"const": uploadformats.REPORT_SCHEMA_VERSION},
                    "generatedAt": {"type": "string", "maxLength": 40},
                    "summary": {"type": "object"},
                    "results": {"type": "array", "items": _RESULT},
                },
            },
        },
    }
    lines = {
        "type": "string",
        "description": f"{uploadformats.SCHEMA_VERSION}: a header line, then one result per line (README)",
    }
    return {
        "required": True,
        "content": {"application/json": {"schema": report}, uploadformats.MEDIA_TYPE: {"schema": lines}},
    }


class Ingested(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    scan: int
    app: str
    env: str
    findings: int
    transitions: dict[str, int]
    # waiver names the results claimed that no approved, unexpired service waiver covering them bears
    unrecognised_waivers: list[str] = Field(alias="unrecognisedWaivers")


class FindingOut(BaseModel):
    id: int
    fingerprint: str
    app: str
    team: str
    env: str
    policy: str
    rule: str
    resource: dict[str, str]
    path: str
    severity: str
    message: str
    status: str
    waiver: str
    first_seen: datetime = Field(serialization_alias="firstSeen")
    last_seen: datetime = Field(serialization_alias="lastSeen")
    fixed_at: datetime | None = Field(serialization_alias="fixedAt")
    sla_due: datetime | None = Field(serialization_alias="slaDue")
    overdue: bool
    source: str  # of the scan that reported it last: ci, drift, cluster:<name>, admission
    category: str  # "drift" for drift


class FindingPage(BaseModel):
    total: int
    limit: int
    offset: int
    next: str | None  # the cursor of the next page; null on the last
    items: list[FindingOut]


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Name
    title: str = Field(default="", max_length=200, pattern=NO_NUL)


class AppIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Name
    owner: str = Name
    value_stream: str = Field(default="", alias="valueStream", max_length=100, pattern=NO_NUL)
    lifecycle: str = Field(default="", max_length=50, pattern=NO_NUL)
    cloud_native: bool = Field(default=True, alias="cloudNative")
    repository: str = Field(default="", max_length=500, pattern=NO_NUL)


class EnvironmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Name
    enforcement: Literal["audit", "warn", "enforce"] = "audit"
    requires_approval: bool = Field(default=False, alias="requiresApproval")
    # approval rules, sync windows, failure mode, GitOps target (catalog.changecontrols checks it)
    change_control: dict[str, Any] | None = Field(default=None, alias="changeControl")


class FiguresOut(BaseModel):
    team: str
    app: str
    open: int
    overdue: int
    fixed: int
    mean_days_to_remediate: float | None = Field(serialization_alias="meanDaysToRemediate")
    fixed_within_sla: float | None = Field(serialization_alias="fixedWithinSla")


class AuditRecordOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    total: int
    limit: int
    offset: int
    next: str | None  # the cursor of the next page; null on the last
    items: list[AuditRecordOut]
