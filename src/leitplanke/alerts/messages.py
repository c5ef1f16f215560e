"""The ``Alert`` value: what every target format is rendered from, and what the outbox stores.

Built by ``governance.alerting``; stored as ``as_dict()`` and read back with ``Alert.from_dict``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FIRING, RESOLVED = "firing", "resolved"


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC, as Alertmanager writes it."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. ``key`` is its idempotency key: the same event always gets the same key."""

    key: str
    name: str  # the alertname label: LeitplankeSlaBreach, LeitplankeNewCriticalFinding, ...
    severity: str
    summary: str
    starts_at: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    status: str = FIRING
    ends_at: datetime | None = None
    generator_url: str = ""

    def all_labels(self) -> dict[str, str]:
        """The labels with ``alertname`` and ``severity``, sorted by name."""
        merged = {**self.labels, "alertname": self.name, "severity": self.severity}
        return dict(sorted(merged.items()))

    def all_annotations(self) -> dict[str, str]:
        return dict(sorted({**self.annotations, "summary": self.summary}.items()))

    def fingerprint(self) -> str:
        """Identifies the alert by its labels, as Alertmanager's fingerprint does (16 hex digits)."""
        text = "\x1f".join(f"{k}\x1e{v}" for k, v in self.all_labels().items())
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "severity": self.severity,
            "summary": self.summary,
            "startsAt": format_time(self.starts_at),
            "endsAt": None if self.ends_at is None else format_time(self.ends_at),
            "labels": dict(sorted(self.labels.items())),
            "annotations": dict(sorted(self.annotations.items())),
            "status": self.status,
            "generatorURL": self.generator_url,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        ends = data.get("endsAt")
        return cls(
            key=str(data["key"]),
            name=str(data["name"]),
            severity=str(data["severity"]),
            summary=str(data["summary"]),
            starts_at=parse_time(str(data["startsAt"])),
            ends_at=None if ends is None else parse_time(str(ends)),
            labels={str(k): str(v) for k, v in dict(data.get("labels", {})).items()},
            annotations={str(k): str(v) for k, v in dict(data.get("annotations", {})).items()},
            status=str(data.get("status", FIRING)),
            generator_url=str(data.get("generatorURL", "")),
        )
