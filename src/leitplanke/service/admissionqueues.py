"""The webhook's durable local queue of decisions to record: a SQLite file in WAL mode beside the
webhook, appended to before the AdmissionReview answer is sent and emptied as the service confirms.

One connection, used on the event loop's thread only (``admission`` appends, ``admissionshipping``
reads and removes). A decision is keyed by its request uid, so an append repeated is one row. With
``synchronous=NORMAL`` a commit is in the operating system's hands when ``append`` returns: it
survives the webhook being killed (SIGKILL), not the machine losing power (``durable=True``: FULL).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from leitplanke.core.problems import UsageError

WAL_BYTES = 16 * 1024 * 1024
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
    _checkpointer: sqlite3.Connection | None = field(init=False, default=None, repr=False)
    # held by a checkpoint and by ``close``: a worker thread's checkpoint still running when the
    # shipper's task is cancelled at a stop would otherwise use a closed connection (a SIGSEGV)
    _closing: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)
    _closed: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit: each statement is its own transaction; the loop's thread only, but the
            # connection is made on the starting thread
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            self._db.execute("PRAGMA busy_timeout=5000")
            # the WAL file, once checkpointed and started over, is cut back to this size
            self._db.execute(f"PRAGMA journal_size_limit={WAL_BYTES}")
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

    def checkpoint_elsewhere(self) -> None:
        """Appends stop checkpointing the WAL (a checkpoint writes back and syncs the database file:
        up to tens of milliseconds on the answer's path); ``checkpoint`` then does it, from a worker
        thread (the shipper's, after each batch it removes)."""
        self._db.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> bool:
        """Write the WAL back into the database file without waiting for, or blocking, the appends
        (a passive checkpoint on a connection of its own); any thread. True when all of it was."""
        with self._closing:
            if self._closed:
                return False
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            busy, frames, written = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return bool(busy == 0 and frames == written)

    def depth(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM decisions").fetchone()[0])

    def close(self) -> None:
        """Close both connections, after a checkpoint in progress on another thread has ended."""
        with self._closing:
            self._closed = True
            self._db.close()
            if self._checkpointer is not None:
                self._checkpointer.close()
