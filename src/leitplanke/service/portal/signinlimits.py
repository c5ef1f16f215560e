"""Failed sign-ins counted per login and per client address, in a window, in bounded memory.

``SignInLimits.refused`` is asked before a password is checked (a limited visitor costs no argon2 work);
``failed`` counts a failure, ``succeeded`` forgets the login's. Kept per process (each replica counts
its own), at most ``MAX_KEYS`` keys of each kind: the oldest are forgotten first. Used by ``signing``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Limit:
    failures: int  # this many failures within ``window`` ...
    window: timedelta  # ... refuse until the oldest of them is older than the window


@dataclass(slots=True)
class _Counter:
    limit: Limit
    seen: OrderedDict[str, deque[datetime]] = field(default_factory=OrderedDict)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self.seen.get(key) or deque()
        while times and times[0] <= now - self.limit.window:
            times.popleft()
        return times

    def retry_after(self, key: str, now: datetime) -> int:
        """Seconds until ``key`` may try again; 0 when it may now."""
        times = self._recent(key, now)
        if len(times) < self.limit.failures:
            return 0
        return max(1, int((times[0] + self.limit.window - now).total_seconds()) + 1)

    def add(self, key: str, now: datetime) -> None:
        times = self._recent(key, now)
        times.append(now)
        while len(times) > self.limit.failures:
            times.popleft()
        self.seen[key] = times
        self.seen.move_to_end(key)
        while len(self.seen) > MAX_KEYS:
            self.seen.popitem(last=False)

    def forget(self, key: str) -> None:
        self.seen.pop(key, None)


class SignInLimits:
    """Per login (a guessed password) and per client address (many logins tried from one place)."""

    def __init__(
        self,
        *,
        per_login: Limit = Limit(5, timedelta(minutes=15)),
        per_client: Limit = Limit(20, timedelta(minutes=15)),
    ) -> None:
        self._lock = threading.Lock()
        self._logins = _Counter(per_login)
        self._clients = _Counter(per_client)

    def refused(self, *, login: str, client: str, now: datetime) -> int:
        """Seconds to wait before signing in as ``login`` from ``client``; 0: go ahead."""
        with self._lock:
            by_login = self._logins.retry_after(login.lower(), now) if login else 0
            return max(by_login, self._clients.retry_after(client, now))

    def failed(self, *, login: str, client: str, now: datetime) -> None:
        with self._lock:
            if login:
                self._logins.add(login.lower(), now)
            self._clients.add(client, now)

    def succeeded(self, *, login: str) -> None:
        with self._lock:
            self._logins.forget(login.lower())

    def sizes(self) -> tuple[int, int]:
        """How many logins and client addresses are remembered (what the memory bound bounds)."""
        with self._lock:
            return len(self._logins.seen), len(self._clients.seen)
