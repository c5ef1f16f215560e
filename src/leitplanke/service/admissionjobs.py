"""The webhook's background jobs once a service is named: shipping the decision queue
(``admissionshipping``) and syncing the service's waivers (``admissionwaivers``), both on the server's
event loop; ``cli/webhook`` starts them and stops them at the lifespan's shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leitplanke.service import admissionshipping, admissionwaivers
from leitplanke.service.admission import Webhook

DRAIN_SECONDS = 10.0  # of Kubernetes' 30 s grace period: the rest is Uvicorn's to finish requests


@dataclass
class BackgroundJobs:
    """What runs beside the server on its loop once a service is named: shipping the queue (if any)
    and syncing the service's waivers; ``stop`` drains the queue at a graceful stop (SIGTERM)."""

    running: list[Coroutine[Any, Any, None]] = field(default_factory=list)
    shipper: admissionshipping.Shipper | None = None
    sync: admissionwaivers.WaiverSync | None = None

    async def first_sync(self, *, seconds: float) -> None:
        """The service's waivers before the first answer, if the service answers within ``seconds``
        (a worker replacing another must let in what the others do); else the periodic sync's."""
        if self.sync is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.sync.sync_once(now=datetime.now(UTC)), seconds)

    async def stop(self, *, seconds: float = DRAIN_SECONDS) -> None:
        if self.shipper is not None:
            await self.shipper.drain(seconds=seconds)
            self.shipper.queue.close()


def background_jobs(
    webhook: Webhook,
    *,
    service_url: str | None,
    token: str,
    ca_file: Path | None,
    ship_seconds: float,
    sync_seconds: float,
) -> BackgroundJobs:
    """The shipping and waiver-sync jobs of ``webhook`` (none without a service)."""
    if not service_url:
        return BackgroundJobs()
    client = admissionshipping.ServiceClient(
        url=service_url, token=token, ca_file=str(ca_file) if ca_file else None
    )
    metrics = webhook.metrics
    jobs = BackgroundJobs()
    if webhook.queue is not None:
        webhook.queue.checkpoint_elsewhere()
        jobs.shipper = admissionshipping.Shipper(
            queue=webhook.queue,
            client=client,
            shipped=metrics.shipped,
            failed=metrics.ship_failures,
            every=ship_seconds,
            # one shipper among the workers sharing the queue file: the others' appends are its too
            lock=admissionshipping.ShippingLock(webhook.queue.path.with_suffix(".ship-lock")),
        )
        jobs.running.append(jobs.shipper.ship_periodically())
    jobs.sync = admissionwaivers.WaiverSync(
        book=webhook.book, client=client, every=sync_seconds, gauge=metrics.service_waivers
    )
    jobs.running.append(jobs.sync.sync_periodically(lambda: datetime.now(UTC)))
    return jobs
