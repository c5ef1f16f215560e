"""The tables, as SQLAlchemy 2 declarative rows; the metadata the migrations are checked against.

Times are stored as naive UTC and read back as aware UTC (``UtcDateTime``), the same on
SQLite and PostgreSQL, so that hashes over them (the audit chain) are stable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Row(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON()}


class Team(Row):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class App(Row):
    __tablename__ = "apps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    value_stream: Mapped[str] = mapped_column(String(100), default="")
    lifecycle: Mapped[str] = mapped_column(String(50), default="")
    cloud_native: Mapped[bool] = mapped_column(Boolean, default=True)
    repository: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]


class Environment(Row):
    __tablename__ = "environments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    enforcement: Mapped[str] = mapped_column(String(20), default="audit")  # audit | warn | enforce
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # approval rules, sync windows, failure mode and GitOps target (catalog.changecontrols, 0008_changes)
    change_control: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")


class Scan(Row):
    __tablename__ = "scans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    env_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    received_at: Mapped[datetime]
    generated_at: Mapped[str] = mapped_column(String(40), default="")
    actor: Mapped[str] = mapped_column(String(200))
    results: Mapped[int] = mapped_column(Integer)
    failing: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]]
    # who scanned (``ci``, ``drift``, ``cluster:<name>``, ``admission``): its upload fixes only the
    # findings that this source reported last in the scope (0015_scan_sources)
    source: Mapped[str] = mapped_column(String(200), default="ci", server_default="ci")

    __table_args__ = (
        Index("ix_scans_scope", "app_id", "env_id", "received_at"),
        # the target of the findings' scope-checking key (0007_finding_writes)
        UniqueConstraint("id", "app_id", "env_id", name="uq_scans_id_scope"),
    )


class Finding(Row):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the scope is checked through the last scan's (see ``__table_args__``), not by keys of its own
    app_id: Mapped[int] = mapped_column(Integer)
    env_id: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(200))
    api_version: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(200))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    path: Mapped[str] = mapped_column(String(1000))
    # the manifest file of the scan that first reported it ("" when the upload named none) (0015)
    file: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # new | open | fixed | reopened | waived
    waiver: Mapped[str] = mapped_column(String(200), default="")
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    fixed_at: Mapped[datetime | None]
    sla_due: Mapped[datetime | None]
    last_scan_id: Mapped[int] = mapped_column(Integer)
    # the SLA clock pauses while a waiver covers the finding: when the current pause began, and the
    # seconds of the pauses that have ended (added to the due date)
    waived_since: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the source of the scan that reported it last (only that source's next scan fixes it) and its
    # result's category ("drift" for drift, a policy's category otherwise) (0015_scan_sources)
    source: Mapped[str] = mapped_column(String(200), default="ci", server_default="ci")
    category: Mapped[str] = mapped_column(String(100), default="", server_default="")

    __table_args__ = (
        UniqueConstraint("app_id", "env_id", "fingerprint", name="uq_findings_scope_fingerprint"),
        # a finding's scope is its last scan's: one key checked per written row (0007_finding_writes)
        ForeignKeyConstraint(
            ["last_scan_id", "app_id", "env_id"],
            ["scans.id", "scans.app_id", "scans.env_id"],
            name="fk_findings_last_scan_scope",
        ),
        # no status here: an ingestion that moves findings from new to open then updates them in place
        Index("ix_findings_sla_due", "sla_due"),
        Index("ix_findings_policy", "policy"),
        # the ingestion reads a scope's findings in id order, by keyset (0006_ingestion)
        Index("ix_findings_scope_id", "app_id", "env_id", "id"),
        {"postgresql_with": {"fillfactor": 60}},
    )


class Waiver(Row):
    """A requested exception for explicit policies, rules and resources of one app in one env."""

    __tablename__ = "waivers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    env_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    policies: Mapped[list[str]] = mapped_column(JSON)
    rules: Mapped[list[str]] = mapped_column(JSON)  # empty: every rule of the policies
    resources: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # {kind, namespace, name}
    justification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # requested | approved | rejected | expired
    requester: Mapped[str] = mapped_column(String(200))  # the requesting actor, as audited
    # the requester's subject (a person or workload): four eyes compare it; None for requests made
    # before subjects (migration 0005), which are compared by the requesting token's name
    requester_subject: Mapped[str | None] = mapped_column(String(100))
    requested_at: Mapped[datetime]
    expires: Mapped[datetime]
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")
    expired_at: Mapped[datetime | None]
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("waivers.id"))

    __table_args__ = (
        Index("ix_waivers_status", "status", "expires"),
        Index("ix_waivers_scope", "app_id", "env_id"),
    )


class AuditRecord(Row):
    __tablename__ = "audit_records"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # how ``hash`` was made: "hmac-sha256" (keyed), or "sha256" for records written before the key
    alg: Mapped[str] = mapped_column(String(20), server_default="sha256")


class AuditLeaf(Row):
    """One transition covered by an audit record's Merkle root (``details.merkleRoot``), in order;
    ``body`` is the canonical JSON that was hashed, kept as text so that it is hashed as written."""

    __tablename__ = "audit_leaves"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)


class ApiToken(Row):
    """A bearer token of one subject (``user:alice@example.com``, ``service:ci-shop``; tokens from
    before migration 0005 have ``legacy-token:<id>``), its name unique per subject."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # viewer | developer | approver | admin | platform-admin
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("subject", "name", name="uq_api_tokens_subject_name"),)


class OutboxAlert(Row):
    """One alert for one target, written in the transaction of the event that raised it and kept
    until it is sent (``sent``) or given up on (``failed``); the dispatcher claims ``pending`` rows
    whose ``next_attempt_at`` has come."""

    __tablename__ = "alert_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))  # the alert's idempotency key
    target: Mapped[str] = mapped_column(String(100))
    alert: Mapped[dict[str, Any]]  # messages.Alert.as_dict()
    status: Mapped[str] = mapped_column(String(10))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("key", "target", name="uq_alert_outbox_key_target"),
        Index("ix_alert_outbox_due", "status", "next_attempt_at"),
    )


class ReportRun(Row):
    """One due run of a report schedule (``insights.reportruns``, 0017_report_runs): the unique
    (schedule, due_at) makes the replica that inserts it first its only owner. ``pending`` until a
    replica leases it (``sending``, until ``lease_until``: a replica that dies loses it), then ``sent``,
    ``pending`` again for a retry, or ``failed`` when the attempts are spent."""

    __tablename__ = "report_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str] = mapped_column(String(200), default="")  # the replica of the last attempt
    delivered: Mapped[list[str]] = mapped_column(JSON, default=list)  # targets done: mail, webhook
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("schedule", "due_at", name="uq_report_runs_schedule_due_at"),
        Index("ix_report_runs_due", "status", "next_attempt_at"),
    )


class PortalUser(Row):
    """A local user of the portal: a login, its subject (``user:<login>``, what four eyes compare), an
    argon2id hash of the password (never the password), one role bound to a team as a token's is."""

    __tablename__ = "portal_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    subject: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # viewer | developer | approver | admin | platform-admin
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class PortalSession(Row):
    """A portal session kept on the server: the cookie carries a random key whose sha256 is ``key_hash``;
    ``csrf`` is the synchronizer token of its forms. Before sign-in a session has neither user nor token
    (it carries the sign-in form's token); signing in replaces it by a new one (no fixation)."""

    __tablename__ = "portal_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class AdmissionDecision(Row):
    """One admission decision the webhook shipped, by the AdmissionReview's request uid: a second
    delivery of the same decision (a retried batch) finds it here and writes nothing."""

    __tablename__ = "admission_decisions"
    uid: Mapped[str] = mapped_column(String(128), primary_key=True)
    decided_at: Mapped[datetime]
    received_at: Mapped[datetime]
    app: Mapped[str] = mapped_column(String(100))  # "" when the object names no app of the catalog
    env: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(10))  # allow | warn | deny
    audit_seq: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_admission_decisions_decided", "decided_at"),)


metadata = Row.metadata
