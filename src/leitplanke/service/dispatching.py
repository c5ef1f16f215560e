"""The background dispatcher: a thread that sweeps for time-raised alerts and relays the outbox.

Started by ``create_app``'s lifespan when alert targets are configured, stopped when the application
shuts down. It holds no state of its own: pending alerts live in the database, so a new instance
resumes where a stopped or killed one left off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from leitplanke.alerts import Target, Transport
from leitplanke.governance import alerting, relaying
from leitplanke.service.loops import BackgroundLoop
from leitplanke.store.databases import Database

log = logging.getLogger("leitplanke.alerts")


class Dispatcher(BackgroundLoop):
    thread_name = "leitplanke-alerts"

    def __init__(
        self,
        database: Database,
        *,
        targets: Sequence[Target],
        outbox: alerting.Outbox,
        transport: Transport,
        clock: Callable[[], datetime],
        retry: relaying.RetryPolicy,
        poll_seconds: float,
        sweep_seconds: float = 60.0,
        expiry_days: int = 7,
    ) -> None:
        self.database, self.targets, self.outbox = database, tuple(targets), outbox
        self.transport, self.clock, self.retry = transport, clock, retry
        self.poll_seconds, self.sweep_seconds, self.expiry_days = poll_seconds, sweep_seconds, expiry_days
        super().__init__()

    def run_once(self) -> relaying.Relayed:
        """Send what is due now, until nothing due is left (or the dispatcher is stopping)."""
        total = relaying.Relayed()
        while not self._stopping.is_set():
            done = relaying.relay_due(
                self.database,
                targets=self.targets,
                transport=self.transport,
                now=self.clock(),
                retry=self.retry,
            )
            total.sent += done.sent
            total.retried += done.retried
            total.failed += done.failed
            if not (done.sent or done.retried or done.failed):
                break
        return total

    def _run(self) -> None:
        next_sweep = 0.0
        while not self._stopping.is_set():
            # the edge of a thread: whatever goes wrong is logged and tried again on the next turn
            try:
                if time.monotonic() >= next_sweep:
                    alerting.sweep(self.database, self.outbox, now=self.clock(), expiry_days=self.expiry_days)
                    next_sweep = time.monotonic() + self.sweep_seconds
                done = self.run_once()
                for key, target in done.failed:
                    log.warning("alert %s to %s given up after retries", key, target)
            except Exception:
                log.exception("alert dispatcher: a turn failed; trying again")
            self._stopping.wait(self.poll_seconds)
