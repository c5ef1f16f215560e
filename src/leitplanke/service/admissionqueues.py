"""The webhook's durable local queue of decisions to record: a SQLite file in WAL mode beside the
webhook, appended to before the AdmissionReview answer is sent and emptied as the service confirms.

One connection, used on the event loop's thread only (``admission`` appends, ``admissionshipping``
reads and removes). A decision is keyed by its request uid, so an append repeated is one row. With
``synchronous=NORMAL`` a commit is in the operating system's hands when ``append`` returns: it
survives the webhook being killed (SIGKILL), not the machine losing power (``durable=True``: FULL).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from leitplanke.core.problems import UsageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL
)
"""


@dataclass
class DecisionQueue:
    path: Path
    durable: bool = False  # fsync every append (power loss too), at a cost measured in the README
    _db: sqlite3.Connection = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit: each statement is its own transaction; the loop's thread only, but the
            # connection is made on the starting thread
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(SCHEMA)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open the decision queue {self.path}: {exc}") from exc

    def append(self, uid: str, body: bytes) -> bool:
        """Keep ``body`` (one decision's JSON) until shipped; False when ``uid`` is queued already."""
        cursor = self._db.execute("INSERT OR IGNORE INTO decisions (uid, body) VALUES (?, ?)", (uid, body))
        return cursor.rowcount == 1

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` decisions, (seq, body), in the order they were appended."""
        rows = self._db.execute("SELECT seq, body FROM decisions ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(int(seq), bytes(body)) for seq, body in rows]

    def remove_through(self, seq: int) -> None:
        """Forget every decision up to and including ``seq`` (the service has recorded them)."""
        self._db.execute("DELETE FROM decisions WHERE seq <= ?", (seq,))

    def depth(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM decisions").fetchone()[0])

    def close(self) -> None:
        self._db.close()
