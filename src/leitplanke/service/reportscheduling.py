"""The report scheduler: a thread that runs the due report schedules (``insights.reportruns``).

Started by ``create_app``'s lifespan when schedules are configured, stopped when the application shuts
down. Every replica runs one; the database decides which sends a run (its unique key), so several
replicas on one database send each run once. A turn that fails is logged and tried again.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from leitplanke.governance import alerting
from leitplanke.insights import reportdelivering, reportruns
from leitplanke.insights.reportschedules import Schedule
from leitplanke.service.loops import BackgroundLoop
from leitplanke.store.databases import Database

log = logging.getLogger("leitplanke.reports")


def instance_name() -> str:
    """This replica, as a run's ``claimed_by`` records it: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler(BackgroundLoop):
    thread_name = "leitplanke-reports"

    def __init__(
        self,
        database: Database,
        *,
        schedules: Sequence[Schedule],
        delivery: reportdelivering.Delivery,
        clock: Callable[[], datetime],
        policy: reportruns.RunPolicy,
        poll_seconds: float,
        outbox: alerting.Outbox | None = None,
        instance: str = "",
    ) -> None:
        self.database, self.schedules, self.delivery = database, tuple(schedules), delivery
        self.clock, self.policy, self.poll_seconds, self.outbox = clock, policy, poll_seconds, outbox
        self.instance = instance or instance_name()
        super().__init__()

    def run_once(self) -> reportruns.Ran:
        def deliver(schedule: Schedule, due_at: datetime, targets: Sequence[str]) -> dict[str, str]:
            return reportdelivering.deliver(
                self.database, schedule, due_at=due_at, targets=targets, delivery=self.delivery
            )

        return reportruns.run_due(
            self.database,
            self.schedules,
            now=self.clock(),
            instance=self.instance,
            deliver=deliver,
            policy=self.policy,
            outbox=self.outbox,
        )

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:  # the edge of a thread: whatever goes wrong is logged and tried again on the next turn
                ran = self.run_once()
                for label in ran.sent:
                    log.info("report %s sent", label)
            except Exception:
                log.exception("report scheduler: a turn failed; trying again")
            self._stopping.wait(self.poll_seconds)


def policy_of(*, lateness: float, retry: float, max_attempts: int) -> reportruns.RunPolicy:
    return reportruns.RunPolicy(
        lateness=timedelta(seconds=lateness),
        first_retry=timedelta(seconds=retry),
        max_retry=max(timedelta(hours=1), timedelta(seconds=retry)),
        max_attempts=max_attempts,
    )
