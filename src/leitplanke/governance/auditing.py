"""The audit chain: every change of state appended as a record whose keyed hash covers its predecessor.

``hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the record)``, canonical JSON being sorted
keys, no spaces, UTF-8; the key never lives in the database (``auditkeys``). Records written before
the key (``alg = "sha256"``, ``hash = sha256(prev_hash ‖ canonical JSON)``) are accepted only as a
prefix of the chain. A record may carry leaves (the transitions of an ingestion), stored beside it
and covered by the Merkle root in its details (``merkle``); ``prove`` proves one of them.

Use cases append through a ``Chain`` inside their transaction; the keys come with the session
(``Database(url, audit=keys)``). After a commit that appended records, the new head is written
as a signed checkpoint outside the database (``checkpoints``). ``auditverifying`` checks it all.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

import orjson
from sqlalchemy import event
from sqlalchemy.orm import Session

from leitplanke.core.problems import LeitplankeError
from leitplanke.governance import checkpoints, errors, merkle
from leitplanke.governance.auditkeys import AuditKeys
from leitplanke.store import auditrecords, databases
from leitplanke.store.databases import Database

GENESIS = "0" * 64
KEYED, LEGACY = "hmac-sha256", "sha256"
_HEAD = "leitplanke.audit-head"  # session.info: (seq, hash, at) of the last record flushed

log = logging.getLogger(__name__)


class AuditKeysMissing(LeitplankeError):
    """A database without audit keys was asked to append: the chain is never written unkeyed."""

    code = "audit-keys-missing"


class RecordLike(Protocol):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    alg: str


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds: what both databases keep of a time."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(
    *, seq: int, at: datetime, actor: str, action: str, target: str, details: Mapping[str, Any]
) -> bytes:
    record = {
        "seq": seq,
        "at": format_time(at),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
    }
    # orjson writes no spaces and UTF-8; sorted keys at every level
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """The unkeyed hash of records written before the key (``alg = "sha256"``)."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def keyed_hash(keys: AuditKeys, prev_hash: str, canonical: bytes) -> str:
    return keys.mac(prev_hash.encode("ascii") + canonical)


def record_hash(keys: AuditKeys, item: RecordLike, prev_hash: str) -> str | None:
    """What ``item.hash`` should be after ``prev_hash``; None for an algorithm we do not know."""
    canonical = canonical_json(
        seq=item.seq,
        at=item.at,
        actor=item.actor,
        action=item.action,
        target=item.target,
        details=item.details,
    )
    if item.alg == KEYED:
        return keyed_hash(keys, prev_hash, canonical)
    if item.alg == LEGACY:
        return chain_hash(prev_hash, canonical)
    return None


def keys_of(database: Database) -> AuditKeys:
    return _keys(database.audit)


def _keys(value: object) -> AuditKeys:
    if not isinstance(value, AuditKeys):
        raise AuditKeysMissing(
            "this database has no audit keys: build it with Database(url, audit=auditkeys.load_audit_keys())"
        )
    return value


class Chain:
    """Appends records inside the caller's transaction, written to the session by ``flush``.

    The caller holds the writer lock (``Database.transaction``), so the head read here stays the head.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        head = auditrecords.audit_head(session)
        self.seq, self.head = head if head is not None else (0, GENESIS)
        self.pending: list[dict[str, Any]] = []
        self.pending_leaves: list[tuple[int, int, str]] = []  # (seq, idx, canonical JSON)

    def append(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        at: datetime,
        details: Mapping[str, Any] | None = None,
        leaves: Sequence[Mapping[str, Any]] = (),
    ) -> int:
        """Append one record; ``leaves`` are stored beside it under the Merkle root in its details."""
        keys = _keys(self.session.info.get(databases.AUDIT_KEYS))
        self.seq += 1
        body = dict(details or {})
        if leaves:
            # as text at once: orjson's bytes keep a buffer of some kilobytes each (400 MB for 100k leaves)
            bodies = [merkle.canonical_leaf(leaf).decode() for leaf in leaves]
            body["leaves"] = len(bodies)
            body["merkleRoot"] = merkle.root([merkle.hash_leaf_body(leaf.encode()) for leaf in bodies])
            self.pending_leaves.extend((self.seq, idx, leaf) for idx, leaf in enumerate(bodies))
        canonical = canonical_json(
            seq=self.seq, at=at, actor=actor, action=action, target=target, details=body
        )
        digest = keyed_hash(keys, self.head, canonical)
        self.pending.append(
            {
                "seq": self.seq,
                "at": at,
                "actor": actor,
                "action": action,
                "target": target,
                "details": body,
                "prev_hash": self.head,
                "hash": digest,
                "alg": KEYED,
            }
        )
        self.head = digest
        return self.seq

    def flush(self) -> None:
        """Write the pending records; once the transaction commits, the new head is checkpointed."""
        if not self.pending:
            return
        auditrecords.insert_audit_records(self.session, self.pending)
        auditrecords.insert_audit_leaves(self.session, self.pending_leaves)
        last = self.pending[-1]
        if _HEAD not in self.session.info:
            # after_commit only: a transaction rolled back leaves no checkpoint behind
            event.listen(self.session, "after_commit", _checkpoint_after_commit, once=True)
        self.session.info[_HEAD] = (last["seq"], last["hash"], format_time(last["at"]))
        self.pending, self.pending_leaves = [], []


def _checkpoint_after_commit(session: Session) -> None:
    head = session.info.pop(_HEAD, None)
    keys = session.info.get(databases.AUDIT_KEYS)
    if head is None or not isinstance(keys, AuditKeys):
        return
    seq, digest, at = head
    try:
        checkpoints.write(keys, checkpoints.Checkpoint(seq=seq, hash=digest, at=at, records=seq))
    except OSError as exc:
        # the records are committed; the next commit writes a later head, and verify reports the gap
        log.error("audit checkpoint of seq %s not written to %s: %s", seq, keys.checkpoint_dir, exc)


def record(
    database: Database,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one record in a transaction of its own (denials, token changes)."""
    with database.transaction() as session:
        chain = Chain(session)
        seq = chain.append(actor=actor, action=action, target=target, at=now, details=details)
        chain.flush()
    return seq


@dataclass(frozen=True, slots=True)
class Proof:
    """That leaf ``idx`` of record ``seq`` is under the record's Merkle root: the audit path to it."""

    seq: int
    idx: int
    size: int
    path: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "idx": self.idx, "size": self.size, "path": list(self.path)}


@dataclass(frozen=True, slots=True)
class ProvenLeaf:
    leaf: dict[str, Any]
    proof: Proof
    root: str


def prove(session: Session, seq: int, idx: int) -> ProvenLeaf:
    """Leaf ``idx`` of record ``seq`` with its audit path and the root the record carries."""
    item = auditrecords.audit_record_at(session, seq)
    if item is None:
        raise errors.NotFound(f"no audit record {seq}", field="seq")
    root = item.details.get("merkleRoot")
    stored = auditrecords.audit_leaves_of(session, seq)
    if not isinstance(root, str) or not 0 <= idx < len(stored):
        raise errors.NotFound(f"audit record {seq} has no leaf {idx}", field="idx")
    hashes = [merkle.hash_leaf_body(body.encode()) for _, body in stored]
    path = tuple(sibling.hex() for sibling in merkle.path(hashes, idx))
    proof = Proof(seq=seq, idx=idx, size=len(hashes), path=path)
    return ProvenLeaf(leaf=orjson.loads(stored[idx][1]), proof=proof, root=root)


def verify_proof(leaf: Mapping[str, Any], proof: Proof, root: str) -> bool:
    """Whether ``leaf`` is leaf ``proof.idx`` of a tree whose root is ``root``."""
    try:
        siblings = [bytes.fromhex(sibling) for sibling in proof.path]
    except ValueError:
        return False
    return merkle.verify_path(
        merkle.leaf_hash(leaf), index=proof.idx, size=proof.size, siblings=siblings, root_hex=root
    )


def render_record(item: RecordLike) -> dict[str, Any]:
    return {
        "seq": item.seq,
        "at": format_time(item.at),
        "actor": item.actor,
        "action": item.action,
        "target": item.target,
        "details": item.details,
        "prev_hash": item.prev_hash,
        "hash": item.hash,
        "alg": item.alg,
    }


def export(database: Database, out: TextIO) -> int:
    """Write every record as one line of JSON (sorted keys), in ``seq`` order; returns the count."""
    count = 0
    with database.reading() as session:
        for item in auditrecords.iter_audit_records(session):
            out.write(orjson.dumps(render_record(item), option=orjson.OPT_SORT_KEYS).decode() + "\n")
            count += 1
    return count
