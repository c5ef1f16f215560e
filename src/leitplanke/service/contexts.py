"""What every route needs of its application: settings, database, clock and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from leitplanke.service.metrics import Metrics
from leitplanke.settings import Settings
from leitplanke.store.databases import Database


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    database: Database
    clock: Callable[[], datetime]
    metrics: Metrics
