"""Watching one resource type: a paginated list, then a watch from its resourceVersion, for ever.

Each type has a thread of its own running ``watch_type``: it lists with ``limit``/``continue``, hands
every object on as a ``Change`` and ends the list with a ``SYNCED`` change naming every object seen
(what the agent knew of the type and is no longer there was deleted), then watches from the list's
resourceVersion with bookmarks. A 410 Gone (too old a resourceVersion) lists again; other API errors
back off exponentially, or as long as Retry-After says; a type the agent may not list (403) or that
is gone (404) is given up. Called by ``agent.running``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leitplanke.agent import discovering, metrics
from leitplanke.sources import cluster

ADDED, MODIFIED, DELETED, SYNCED = "ADDED", "MODIFIED", "DELETED", "SYNCED"
PAGE = 500  # objects per list page, as kubectl and client-go's informers ask
_GIVE_UP = frozenset({403, 404, 405})
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """One object changed (``body``), or a list ended (``SYNCED``, with the (namespace, name) it held)."""

    served: discovering.ServedType
    event: str
    body: dict[str, Any] = field(default_factory=dict)
    seen: frozenset[tuple[str, str]] = frozenset()


@dataclass(slots=True)
class Backoff:
    """Exponential back-off with jitter: ``first`` seconds, doubling up to ``cap``; ``reset`` on success."""

    first: float = 0.5
    cap: float = 30.0
    attempt: int = 0

    def next(self, *, retry_after: float = 0.0) -> float:
        delay = min(self.cap, self.first * 2**self.attempt) * random.uniform(0.8, 1.2)
        self.attempt += 1
        return float(max(delay, retry_after))

    def reset(self) -> None:
        self.attempt = 0


@dataclass(frozen=True, slots=True)
class Watch:
    """What a type's thread needs: where to read, where to hand changes, when to stop."""

    connection: cluster.Connection
    served: discovering.ServedType
    emit: Callable[[Change], None]
    stop: threading.Event
    figures: metrics.Metrics
    page: int = PAGE
    timeout_seconds: int = 300  # a watch request's own end; the next one continues from its resourceVersion
    backoff: Backoff = field(default_factory=Backoff)


def watch_type(watch: Watch) -> None:
    """List, then watch, until ``watch.stop``; relist on 410, back off on any other failure."""
    version = ""
    while not watch.stop.is_set():
        try:
            if not version:
                version = list_type(watch)
            version = _watch_from(watch, version)
            watch.backoff.reset()
        except cluster.Gone:
            watch.figures.api_errors.labels("410").inc()
            version = ""  # too old: list again (what changed meanwhile comes with the list)
        except cluster.ClusterError as exc:
            watch.figures.api_errors.labels(str(exc.status)).inc()
            if exc.status in _GIVE_UP and not version:
                # not allowed to list it (RBAC), or no longer served (a deleted CRD): nothing of it is
                # audited, and the reports do not wait for it
                _log.warning("%s is not audited: %s", watch.served.qualified, exc)
                watch.emit(Change(watch.served, SYNCED))
                return
            watch.stop.wait(watch.backoff.next(retry_after=exc.retry_after))


def list_type(watch: Watch) -> str:
    """Every object of the type, a page at a time, then ``SYNCED``; the list's resourceVersion."""
    seen: set[tuple[str, str]] = set()
    query = {"limit": str(watch.page)}
    while True:
        page = watch.connection.get(watch.served.path(), query=query)
        for item in page.get("items") or []:
            item.setdefault("apiVersion", watch.served.api_version)
            item.setdefault("kind", watch.served.kind)
            metadata = item.get("metadata") or {}
            seen.add((str(metadata.get("namespace") or ""), str(metadata.get("name") or "")))
            watch.emit(Change(watch.served, MODIFIED, item))
        metadata = page.get("metadata") or {}
        token = metadata.get("continue")
        if not token:
            watch.emit(Change(watch.served, SYNCED, seen=frozenset(seen)))
            return str(metadata.get("resourceVersion") or "")
        query = {"limit": str(watch.page), "continue": str(token)}


def _watch_from(watch: Watch, version: str) -> str:
    """One watch request from ``version``; the resourceVersion to continue from when it ends."""
    query = {
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(watch.timeout_seconds),
    }
    for event in watch.connection.watch(watch.served.path(), query=query):
        if watch.stop.is_set():
            break
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = int(body.get("code") or 0)
            message = f"watch of {watch.served.qualified}: {body.get('message', '')}"
            raise (
                cluster.Gone(message, status=410)
                if code == 410
                else cluster.ClusterError(message, status=code)
            )
        version = str((body.get("metadata") or {}).get("resourceVersion") or version)
        if kind in (ADDED, MODIFIED, DELETED):
            watch.emit(Change(watch.served, str(kind), body))
    return version
