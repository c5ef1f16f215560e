"""Signed checkpoints of the audit chain's head, kept outside the database.

After every commit that appended records, ``auditing`` calls ``write`` with the new head: the
checkpoint ``{seq, hash, at, records}`` is signed with Ed25519 and written to the checkpoint
directory as ``head.json`` (replaced atomically, never moved backwards: two servers on one
database write under ``flock`` and only a higher ``seq`` wins) and appended to
``checkpoints.jsonl``. ``verified.json`` remembers the last head that ``audit verify`` found
intact (authenticated with the HMAC key), where the next incremental verification starts.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from leitplanke.governance.auditkeys import AuditKeys

HEAD, LOG, VERIFIED, LOCK = "head.json", "checkpoints.jsonl", "verified.json", ".lock"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    records: int

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at, "records": self.records}

    def payload(self) -> bytes:
        """The signed bytes: canonical JSON (sorted keys, no spaces)."""
        return orjson.dumps(self.as_dict(), option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the checkpoint directory says: the latest checkpoint (if any), or why it cannot be trusted."""

    checkpoint: Checkpoint | None
    problem: str = ""


def write(keys: AuditKeys, checkpoint: Checkpoint) -> bool:
    """Sign and write ``checkpoint`` unless the directory already holds one at or past its ``seq``."""
    directory = keys.checkpoint_dir
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = checkpoint.payload()
    signed = {**checkpoint.as_dict(), "key": keys.key_id(), "signature": keys.sign(payload)}
    line = orjson.dumps(signed, option=orjson.OPT_SORT_KEYS)
    with _locked(directory):
        current = _read_json(directory / HEAD)
        if current is not None and _int(current.get("seq")) >= checkpoint.seq:
            return False
        with open(directory / LOG, "ab") as log:
            log.write(line + b"\n")
            log.flush()
            os.fsync(log.fileno())
        _replace(directory / HEAD, line)
    return True


def latest(keys: AuditKeys) -> Loaded:
    """The checkpoint of ``head.json`` once its signature holds; a problem when it does not.

    A missing ``head.json`` while ``checkpoints.jsonl`` has lines is a problem too: the head was
    removed, which would otherwise make a wiped log look like a new one.
    """
    directory = keys.checkpoint_dir
    body = _read_json(directory / HEAD)
    if body is None:
        log = directory / LOG
        if log.exists() and log.stat().st_size > 0:
            return Loaded(None, f"{HEAD} is missing or unreadable but {LOG} holds checkpoints")
        return Loaded(None)
    checkpoint = _checkpoint(body)
    if checkpoint is None or not keys.signed(checkpoint.payload(), str(body.get("signature", ""))):
        return Loaded(None, f"{HEAD} does not carry a valid signature of the audit signing key")
    return Loaded(checkpoint)


def remember_verified(keys: AuditKeys, *, seq: int, hash_: str) -> None:
    """Note that the chain up to ``seq`` (whose hash is ``hash_``) verified; never moves backwards."""
    directory = keys.checkpoint_dir
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = orjson.dumps({"seq": seq, "hash": hash_}, option=orjson.OPT_SORT_KEYS)
    with _locked(directory):
        current = verified(keys)
        if current is not None and current[0] >= seq:
            return
        _replace(directory / VERIFIED, orjson.dumps({"seq": seq, "hash": hash_, "mac": keys.mac(payload)}))


def verified(keys: AuditKeys) -> tuple[int, str] | None:
    """``(seq, hash)`` of the last verified head, None when there is none or its MAC does not hold."""
    body = _read_json(keys.checkpoint_dir / VERIFIED)
    if body is None:
        return None
    seq, hash_ = _int(body.get("seq")), str(body.get("hash", ""))
    payload = orjson.dumps({"seq": seq, "hash": hash_}, option=orjson.OPT_SORT_KEYS)
    if seq <= 0 or keys.mac(payload) != body.get("mac"):
        return None
    return seq, hash_


def _checkpoint(body: dict[str, Any]) -> Checkpoint | None:
    seq, records = _int(body.get("seq")), _int(body.get("records"))
    hash_, at = body.get("hash"), body.get("at")
    if seq <= 0 or not isinstance(hash_, str) or not isinstance(at, str):
        return None
    return Checkpoint(seq=seq, hash=hash_, at=at, records=records)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        body = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _replace(path: Path, content: bytes) -> None:
    """Write beside ``path`` and rename over it: a reader sees the old file or the new one, whole."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as stream:
        stream.write(content + b"\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
