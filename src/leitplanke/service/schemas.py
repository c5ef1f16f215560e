"""Request and response bodies of the REST API (Pydantic v2); parsing only, no behaviour.

``ScanUpload`` accepts a ``leitplanke.dev/scan/v1`` report as written by ``leitplanke scan -f json``,
reading the fields the findings need and ignoring the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict

Name = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class UploadResource(_Loose):
    domain: str = "kubernetes"
    api_version: str = Field(alias="apiVersion", max_length=200)
    kind: str = Field(max_length=200)
    namespace: str = Field(default="", max_length=253)
    name: str = Field(max_length=253)


class UploadLocation(_Loose):
    file: str = ""
    line: int = 0
    path: str = Field(default="", max_length=1000)
    index: int = 0


class UploadResult(_Loose):
    policy: str = Field(min_length=1, max_length=200)
    rule: str = Field(min_length=1, max_length=200)
    verdict: Literal["pass", "fail", "warn", "error", "skip"]
    severity: Literal["critical", "high", "medium", "low", "info"]
    message: str = ""
    resource: UploadResource
    location: UploadLocation = UploadLocation()
    waiver: str | None = None

    def to_result(self) -> Result:
        r, loc = self.resource, self.location
        return Result(
            policy=self.policy,
            rule=self.rule,
            resource=Resource(r.api_version, r.kind, r.namespace, r.name, r.domain),
            verdict=Verdict(self.verdict),
            severity=Severity.parse(self.severity),
            message=self.message,
            location=Location(loc.file, loc.line, loc.path, loc.index),
            waiver=self.waiver or "",
        )


class ScanReportBody(_Loose):
    schema_version: Literal["leitplanke.dev/scan/v1"] = Field(alias="schemaVersion")
    generated_at: str = Field(default="", alias="generatedAt", max_length=40)
    summary: dict[str, Any] = {}
    results: list[UploadResult]


class ScanUpload(BaseModel):
    """A scan report of one application in one environment."""

    model_config = ConfigDict(extra="forbid")
    app: str = Name
    env: str = Name
    scan: ScanReportBody


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


class FindingPage(BaseModel):
    total: int
    limit: int
    offset: int
    next: str | None  # the cursor of the next page; null on the last
    items: list[FindingOut]


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Name
    title: str = Field(default="", max_length=200)


class AppIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Name
    owner: str = Name
    value_stream: str = Field(default="", alias="valueStream", max_length=100)
    lifecycle: str = Field(default="", max_length=50)
    cloud_native: bool = Field(default=True, alias="cloudNative")
    repository: str = Field(default="", max_length=500)


class EnvironmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Name
    enforcement: Literal["audit", "warn", "enforce"] = "audit"
    requires_approval: bool = Field(default=False, alias="requiresApproval")


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
