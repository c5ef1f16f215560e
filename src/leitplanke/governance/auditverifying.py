"""``audit verify``: the chain checked with its key, its leaves and against the signed checkpoint.

Every problem has a stable code (``PROBLEM_CODES``) and, where it has one, the ``seq`` at fault.
By default verification is incremental: it starts at the last head found intact (``verified.json``),
checks that the record there still has that hash and recomputes only the records after it;
``full=True`` recomputes the whole chain. Called by ``leitplanke audit verify`` and
``GET /api/v1/audit/verify``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from leitplanke.governance import auditing, checkpoints, merkle
from leitplanke.governance.auditkeys import AuditKeys
from leitplanke.store import auditrecords
from leitplanke.store.databases import Database

PROBLEM_CODES = {
    "sequence-gap": "a record is missing or was inserted before this one",
    "prev-hash-mismatch": "the record does not point to its predecessor (inserted or reordered)",
    "hash-mismatch": "the record's keyed hash does not hold (edited, or re-hashed without the key)",
    "legacy-after-keyed": "an unkeyed record follows a keyed one",
    "unknown-alg": "the record names a hash algorithm this version does not know",
    "leaves-mismatch": "the record's stored leaves do not give its Merkle root",
    "orphan-leaves": "leaves are stored for a record that has none",
    "truncated": "records up to the checkpoint's seq are missing (the tail was deleted)",
    "wiped": "the log is empty but a checkpoint exists",
    "checkpoint-mismatch": "the record at the checkpoint's seq has another hash (the chain was rewritten)",
    "checkpoint-invalid": "the checkpoint directory's head cannot be trusted",
    "anchor-mismatch": "the record where the last verification ended has another hash",
}


@dataclass(frozen=True, slots=True)
class AuditProblem:
    code: str
    seq: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "seq": self.seq, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Verification:
    records: int  # records in the log
    checked: int  # records whose hashes and leaves were recomputed by this verification
    head: str
    head_seq: int
    checkpoint: checkpoints.Checkpoint | None
    problems: tuple[AuditProblem, ...] = ()
    full: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [problem.seq for problem in self.problems if problem.seq is not None]
        return min(seqs) if seqs else None

    def as_dict(self) -> dict[str, Any]:
        point = self.checkpoint
        return {
            "ok": self.ok,
            "records": self.records,
            "checked": self.checked,
            "firstBadSeq": self.first_bad_seq,
            "head": self.head,
            "headSeq": self.head_seq,
            "full": self.full,
            "checkpoint": None if point is None else {"seq": point.seq, "hash": point.hash, "at": point.at},
            "problems": [problem.as_dict() for problem in self.problems],
        }


def verify_database(database: Database, *, full: bool = False) -> Verification:
    """Verify the chain of ``database`` with its audit keys; remember how far it held."""
    keys = auditing.keys_of(database)
    with database.reading() as session:
        outcome, walked = verify_session(session, keys, full=full)
    # a verifier with a read-only checkpoint directory keeps no anchor: its next run starts further back
    if outcome.ok and walked[0] > 0:
        with contextlib.suppress(OSError):
            checkpoints.remember_verified(keys, seq=walked[0], hash_=walked[1])
    return outcome


def verify_session(session: Session, keys: AuditKeys, *, full: bool) -> tuple[Verification, tuple[int, str]]:
    """The verification, and the (seq, hash) of the last record it recomputed (or started after)."""
    # the checkpoint first: it is written after its commit, so every record it names is visible to
    # the reads below even when writers commit meanwhile (PostgreSQL reads at READ COMMITTED)
    loaded = checkpoints.latest(keys)
    problems: list[AuditProblem] = []
    start = _start(session, keys, full=full, problems=problems)
    walk = _Walk(keys, last=start.seq, prev=start.hash, keyed=start.keyed)
    walk.run(auditrecords.iter_audit_records(session, after=start.seq), _Leaves(session, after=start.seq))
    problems.extend(walk.problems)
    head = auditrecords.audit_head(session)
    head_seq, head_hash = head if head is not None else (0, auditing.GENESIS)
    if loaded.problem:
        problems.append(AuditProblem("checkpoint-invalid", None, loaded.problem))
    if loaded.checkpoint is not None:
        problems.extend(_against(session, loaded.checkpoint, head_seq=head_seq))
    outcome = Verification(
        records=auditrecords.count_audit_records(session),
        checked=walk.checked,
        head=head_hash,
        head_seq=head_seq,
        checkpoint=loaded.checkpoint,
        problems=tuple(problems),
        full=start.seq == 0,
    )
    return outcome, (walk.last, walk.prev)


@dataclass(frozen=True, slots=True)
class _Start:
    seq: int = 0
    hash: str = auditing.GENESIS
    keyed: bool = False


def _start(session: Session, keys: AuditKeys, *, full: bool, problems: list[AuditProblem]) -> _Start:
    """Where to start: after the last verified head when it still holds, else at the beginning."""
    anchor = None if full else checkpoints.verified(keys)
    if anchor is None:
        return _Start()
    seq, hash_ = anchor
    item = auditrecords.audit_record_at(session, seq)
    if item is None or item.hash != hash_:
        found = "is missing" if item is None else f"has hash {item.hash}"
        detail = f"the record at seq {seq}, verified with hash {hash_}, {found}"
        problems.append(AuditProblem("anchor-mismatch", seq, detail))
        return _Start()  # verify everything to name the first record that broke
    return _Start(seq=seq, hash=hash_, keyed=item.alg == auditing.KEYED)


def _against(session: Session, point: checkpoints.Checkpoint, *, head_seq: int) -> list[AuditProblem]:
    if head_seq == 0:
        return [AuditProblem("wiped", 1, f"no records, but the checkpoint names seq {point.seq}")]
    if head_seq < point.seq:
        detail = f"records after seq {head_seq} up to the checkpoint's seq {point.seq} are missing"
        return [AuditProblem("truncated", head_seq + 1, detail)]
    item = auditrecords.audit_record_at(session, point.seq)
    if item is None or item.hash != point.hash:
        found = "is missing" if item is None else f"has hash {item.hash}"
        detail = f"the checkpoint says seq {point.seq} has hash {point.hash}; the record {found}"
        return [AuditProblem("checkpoint-mismatch", point.seq, detail)]
    return []


class _Leaves:
    """The leaves after a seq, read in (seq, idx) order alongside the records."""

    def __init__(self, session: Session, *, after: int) -> None:
        self.rows: Iterator[tuple[int, int, str]] = iter(auditrecords.iter_audit_leaves(session, after=after))
        self.next: tuple[int, int, str] | None = next(self.rows, None)

    def take(self, seq: int) -> tuple[int | None, list[tuple[int, str]]]:
        """``(seq of leaves stored before seq without a record, leaves of seq)``."""
        orphan = None
        while self.next is not None and self.next[0] < seq:
            orphan = self.next[0] if orphan is None else orphan
            self.next = next(self.rows, None)
        taken: list[tuple[int, str]] = []
        while self.next is not None and self.next[0] == seq:
            taken.append((self.next[1], self.next[2]))
            self.next = next(self.rows, None)
        return orphan, taken


@dataclass(slots=True)
class _Walk:
    """Recomputes records in order, stopping at the first that does not fit; ``last`` and ``prev``
    are the seq and hash of the last record that did."""

    keys: AuditKeys
    last: int
    prev: str
    keyed: bool
    checked: int = 0
    problems: list[AuditProblem] = field(default_factory=list)

    def run(self, records: Iterable[auditing.RecordLike], leaves: _Leaves) -> None:
        for item in records:
            problem = self._record(item, self.last + 1) or self._leaves(item, leaves)
            if problem is not None:
                self.problems.append(problem)
                return
            self.checked += 1
            self.last, self.prev = item.seq, item.hash
        orphan, _ = leaves.take(2**62)
        if orphan is not None:
            detail = f"leaves of seq {orphan}, which does not exist"
            self.problems.append(AuditProblem("orphan-leaves", orphan, detail))

    def _record(self, item: auditing.RecordLike, expected: int) -> AuditProblem | None:
        if item.seq != expected:
            return AuditProblem("sequence-gap", item.seq, f"expected seq {expected}, found {item.seq}")
        if item.prev_hash != self.prev:
            return AuditProblem(
                "prev-hash-mismatch", item.seq, f"prev_hash is not the hash of seq {item.seq - 1}"
            )
        if item.alg == auditing.LEGACY and self.keyed:
            return AuditProblem("legacy-after-keyed", item.seq, "an unkeyed record after the first keyed one")
        digest = auditing.record_hash(self.keys, item, self.prev)
        if digest is None:
            return AuditProblem("unknown-alg", item.seq, f"hash algorithm {item.alg!r}")
        if digest != item.hash:
            return AuditProblem("hash-mismatch", item.seq, f"the {item.alg} hash of the record does not hold")
        self.keyed = self.keyed or item.alg == auditing.KEYED
        return None

    def _leaves(self, item: auditing.RecordLike, leaves: _Leaves) -> AuditProblem | None:
        orphan, taken = leaves.take(item.seq)
        if orphan is not None:
            return AuditProblem("orphan-leaves", orphan, f"leaves of seq {orphan}, which has none")
        root, size = item.details.get("merkleRoot"), item.details.get("leaves")
        if root is None and not taken:
            return None
        if root is None:
            return AuditProblem(
                "orphan-leaves", item.seq, f"{len(taken)} leaves stored for a record without a root"
            )
        if [idx for idx, _ in taken] != list(range(len(taken))) or size != len(taken):
            detail = f"{len(taken)} leaves stored (indexes not 0..n-1 or not the {size} the record names)"
            return AuditProblem("leaves-mismatch", item.seq, detail)
        if merkle.root([merkle.hash_leaf_body(body.encode()) for _, body in taken]) != root:
            return AuditProblem(
                "leaves-mismatch", item.seq, "the stored leaves do not give the record's Merkle root"
            )
        return None
