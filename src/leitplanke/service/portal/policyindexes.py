"""The built-in policies as the portal's catalog shows them: loaded on first use (never at import), then
searched by words and filtered by pack and severity; the finding page reads a policy's remediation here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from leitplanke.core.policies import Policy
from leitplanke.engine import loading
from leitplanke.reports import catalogentries


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    policy: Policy
    applies_to: str
    source: str
    words: str  # what a search looks in, case-folded


class PolicyIndex:
    """Every policy of every built-in pack, by id; loaded once, by the first request that needs it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: tuple[PolicyEntry, ...] | None = None

    def entries(self, *, now: datetime) -> tuple[PolicyEntry, ...]:
        with self._lock:
            if self._entries is None:
                loaded = loading.load_packs(loading.available_packs(), now=now)
                policies = sorted(loaded.policies, key=lambda p: (p.pack, p.id))
                self._entries = tuple(_entry(policy) for policy in policies)
            return self._entries

    def by_id(self, policy_id: str, *, now: datetime) -> PolicyEntry | None:
        for entry in self.entries(now=now):
            if entry.policy.id == policy_id:
                return entry
        return None

    def search(
        self, *, now: datetime, words: str = "", pack: str = "", severity: str = ""
    ) -> list[PolicyEntry]:
        """The entries holding every word of ``words`` (in id, title, category, controls, description or
        remediation), of ``pack`` and ``severity`` when given."""
        wanted = words.casefold().split()
        return [
            entry
            for entry in self.entries(now=now)
            if (not pack or entry.policy.pack == pack)
            and (not severity or entry.policy.severity.label == severity)
            and all(word in entry.words for word in wanted)
        ]

    def packs(self, *, now: datetime) -> list[str]:
        return sorted({entry.policy.pack for entry in self.entries(now=now)})


def _entry(policy: Policy) -> PolicyEntry:
    words = " ".join(
        [policy.id, policy.title, policy.category, *policy.controls, policy.description, policy.remediation]
    )
    return PolicyEntry(
        policy=policy,
        applies_to=catalogentries.applies_to(policy),
        source=catalogentries.source(policy),
        words=words.casefold(),
    )
