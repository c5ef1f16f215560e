"""The service's waivers at the webhook: approved, unexpired waivers fetched in the background from
``GET /api/v1/waivers?status=approved`` and kept per (app, environment), so that admission lets in
what the service's waivers let in, and records the waiver's id with the decision.

``parse_waivers`` is pure; ``WaiverSync.sync_periodically`` runs on the webhook's event loop
(``cli/webhook`` starts it) and replaces the whole book at each success; a failed sync keeps the
last book (expired waivers in it stop counting at their expiry, checked at each evaluation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from leitplanke.core.waivers import Waiver, WaiverScope
from leitplanke.service.admissionshipping import ServiceClient

_log = logging.getLogger(__name__)
WAIVERS_PATH = "/api/v1/waivers?status=approved"


@dataclass
class WaiverBook:
    """The waivers in force per (app, env), as last synced."""

    by_scope: Mapping[tuple[str, str], tuple[Waiver, ...]] = field(default_factory=dict)
    synced_at: datetime | None = None

    def active(self, *, app: str, env: str, now: datetime) -> list[Waiver]:
        return [w for w in self.by_scope.get((app, env), ()) if not w.is_expired(now)]

    def count(self) -> int:
        return sum(len(waivers) for waivers in self.by_scope.values())


def parse_waivers(body: bytes, *, now: datetime) -> dict[tuple[str, str], tuple[Waiver, ...]]:
    """The service's waiver listing → the approved, unexpired ones per (app, env); anything else in
    it (a malformed entry) is left out, never guessed at."""
    raw = orjson.loads(body)
    if not isinstance(raw, list):
        raise ValueError("the waiver listing is not a JSON list")
    book: dict[tuple[str, str], list[Waiver]] = {}
    for item in raw:
        waiver = _waiver(item) if isinstance(item, dict) and item.get("status") == "approved" else None
        if waiver is not None and not waiver.is_expired(now):
            book.setdefault((str(item["app"]), str(item["env"])), []).append(waiver)
    return {scope: tuple(waivers) for scope, waivers in book.items()}


def _waiver(item: Mapping[str, Any]) -> Waiver | None:
    try:
        resources: Sequence[Mapping[str, str]] = item["resources"]
        scopes = tuple(
            WaiverScope(
                kinds=(r["kind"],),
                namespaces=(r["namespace"],) if r.get("namespace") else (),
                names=(r["name"],),
            )
            for r in resources
        )
        return Waiver(
            name=str(item["name"]),
            policies=tuple(item["policies"]),
            rules=tuple(item.get("rules") or ()),
            scopes=scopes,
            reason=str(item.get("justification", "")),
            owner=str(item.get("team", "")),
            approver=str(item.get("decidedBy", "")),
            requester=str(item.get("requester", "")),
            expires=datetime.fromisoformat(str(item["expires"])),
        )
    except (KeyError, TypeError, ValueError):
        return None


class Gauged(Protocol):
    def set(self, value: float) -> None: ...


@dataclass
class WaiverSync:
    book: WaiverBook
    client: ServiceClient
    gauge: Gauged
    every: float = 30.0

    async def sync_once(self, *, now: datetime) -> bool:
        status, body = await asyncio.to_thread(self.client.call, "GET", WAIVERS_PATH)
        if status != 200:
            _log.warning("waivers not synced: the service answered %s: %r", status, body[:300])
            return False
        try:
            # parsed off the loop: a long listing must not hold up the answers
            self.book.by_scope = await asyncio.to_thread(parse_waivers, body, now=now)
        except ValueError as exc:  # orjson's error is a ValueError
            _log.warning("waivers not synced: %s", exc)
            return False
        self.book.synced_at = now
        self.gauge.set(self.book.count())
        return True

    async def sync_periodically(self, clock: Callable[[], datetime]) -> None:
        """Sync at once, then every ``every`` seconds, until cancelled."""
        while True:
            try:
                await self.sync_once(now=clock())
            except Exception:  # the edge: a round that fails must not end the task; the last book stays
                _log.exception("waivers not synced")
            await asyncio.sleep(self.every)
