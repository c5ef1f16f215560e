"""What every route needs of its application: settings, database, clock, metrics and denial log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from leitplanke.governance.denials import DenialLog
from leitplanke.service.metrics import Metrics
from leitplanke.settings import Settings
from leitplanke.store.databases import Database


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    database: Database
    clock: Callable[[], datetime]
    metrics: Metrics
    denials: DenialLog = field(default_factory=DenialLog)  # per instance: aggregates access denials
