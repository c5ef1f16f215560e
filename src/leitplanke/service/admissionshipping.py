"""Shipping the webhook's queued decisions to the service in batches, in the background: the
AdmissionReview answer never waits for it, nor for the central database.

``ship_periodically`` runs on the webhook's event loop (``cli/webhook`` starts it); the HTTP call goes
to a worker thread. A batch leaves the queue only once the service answered 200; a batch sent again
after a crash is recorded once (the service keys decisions by request uid). Workers sharing one queue
file ship through one of them: whoever holds the ``ShippingLock`` (an ``flock``, let go when its
process ends). ``ServiceClient`` is the
webhook's one way to the service's API, also used by ``admissionwaivers``.
"""

from __future__ import annotations

import asyncio
import fcntl
import http.client
import logging
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from leitplanke.core.problems import LeitplankeError
from leitplanke.service.admissionqueues import DecisionQueue

_log = logging.getLogger(__name__)
DECISIONS_PATH = "/api/v1/admission/decisions"
BATCH = 500
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class ServiceClient:
    url: str  # the service's base URL, such as https://leitplanke-api.leitplanke.svc
    token: str
    ca_file: str | None = None  # verify an https service against this CA (else the system's)
    timeout: float = 10.0

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """The status and body of one request; (0, reason) when the service cannot be reached."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.url.rstrip("/") + path, data=body, method=method, headers=headers
        )
        context = ssl.create_default_context(cafile=self.ca_file) if self.url.startswith("https") else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as answer:
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return 0, str(exc).encode()


class Shipped(Protocol):
    def inc(self, amount: float = 1) -> None: ...


@dataclass
class ShippingLock:
    """The right to ship a queue file shared by several worker processes: an exclusive ``flock`` on
    ``path``, taken without waiting and kept until ``release`` or the process's end."""

    path: Path
    _fd: int | None = field(init=False, default=None, repr=False)

    def acquire(self) -> bool:
        """True when this process holds the lock (now, or since an earlier call)."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class Shipper:
    queue: DecisionQueue
    client: ServiceClient
    shipped: Shipped  # a counter of decisions the service confirmed
    failed: Shipped  # a counter of batches it did not take
    every: float = 1.0
    batch: int = BATCH
    lock: ShippingLock | None = None  # with it: ship only while holding it

    async def ship_once(self) -> int:
        """Ship the oldest batch; the number of decisions settled (0: none queued, or another
        process holds the lock and ships them)."""
        if self.lock is not None and not self.lock.acquire():
            return 0
        items = self.queue.peek(self.batch)
        if not items:
            return 0
        status, answer = await self._post(items)
        if status == 422 and len(items) > 1:
            # the service refuses something in the batch: one at a time, so that a decision it will
            # never take does not hold up the others
            for item in items:
                self._settle([item], *(await self._post([item])))
        else:
            self._settle(items, status, answer)
        await asyncio.to_thread(self.queue.checkpoint)
        return len(items)

    async def _post(self, items: list[tuple[int, bytes]]) -> tuple[int, bytes]:
        body = b'{"decisions":[' + b",".join(item for _, item in items) + b"]}"
        return await asyncio.to_thread(self.client.call, "POST", DECISIONS_PATH, body)

    def _settle(self, items: list[tuple[int, bytes]], status: int, answer: bytes) -> None:
        """Remove what the service recorded (200) or refuses for good (422: logged, counted, dropped);
        anything else keeps them queued and raises."""
        if status == 422:
            _log.error("the service refuses a queued decision, which is dropped: %r", answer[:300])
            self.failed.inc()
        elif status != 200:
            self.failed.inc()
            raise ShippingFailed(f"the service answered {status}: {answer[:300]!r}")
        else:
            self.shipped.inc(len(items))
        self.queue.remove_through(items[-1][0])

    async def ship_periodically(self) -> None:
        """Ship until cancelled: at once while full batches wait, else every ``every`` seconds; after a
        failure, again after a pause that doubles up to 30 s."""
        pause = self.every
        while True:
            try:
                sent = await self.ship_once()
                pause = self.every
            except Exception as exc:  # the edge: a round that fails (service, disk) must not end the task
                _log.warning("admission decisions not shipped, retrying in %.0f s: %s", pause, exc)
                sent = 0
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_BACKOFF)
                continue
            if sent < self.batch:
                await asyncio.sleep(self.every)

    async def drain(self, *, seconds: float) -> int:
        """At a graceful stop: ship until the queue is empty, a batch fails or ``seconds`` pass; what
        is left stays in the file for the next start on the same volume, or for the worker that ships
        it (a worker that does not hold the lock leaves its decisions to that one). The decisions left."""
        try:
            async with asyncio.timeout(seconds):
                while await self.ship_once():
                    pass
        except (TimeoutError, ShippingFailed) as exc:
            _log.warning("admission decisions left queued at stop: %s", exc or "time is up")
        finally:
            if self.lock is not None:
                self.lock.release()  # another worker ships from now on
        return self.queue.depth()


class ShippingFailed(LeitplankeError):
    """The service did not take a batch (unreachable, refused, or an error): it stays queued."""

    code = "shipping-failed"
