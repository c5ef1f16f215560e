"""Merkle trees over an audit record's leaves, as in RFC 6962 (Certificate Transparency).

``leaf = SHA-256(0x00 ‖ canonical JSON)``, ``node = SHA-256(0x01 ‖ left ‖ right)``; a tree of n
leaves splits at the largest power of two below n. ``root`` is what an audit record carries
(``details.merkleRoot``), ``path`` and ``verify_path`` prove one leaf against it. Pure; used by
``auditing`` (append, verify) and ``auditing.prove``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def canonical_leaf(leaf: Mapping[str, Any]) -> bytes:
    return orjson.dumps(leaf, option=orjson.OPT_SORT_KEYS)


def leaf_hash(leaf: Mapping[str, Any]) -> bytes:
    return hash_leaf_body(canonical_leaf(leaf))


def hash_leaf_body(body: bytes) -> bytes:
    """The leaf hash of a leaf's canonical JSON as stored."""
    return hashlib.sha256(b"\x00" + body).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(hashes: Sequence[bytes]) -> str:
    """The tree head of the leaf hashes, hex; the hash of nothing for no leaves."""
    if not hashes:
        return EMPTY_ROOT
    return _root(hashes).hex()


def _root(hashes: Sequence[bytes]) -> bytes:
    # bottom-up, level by level: an odd node is carried up unchanged, which gives the same tree as
    # RFC 6962's split at the largest power of two
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def path(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` (RFC 6962 ``PATH(m, D[n])``), nearest sibling first."""
    if not 0 <= index < len(hashes):
        raise IndexError(f"leaf {index} of {len(hashes)}")
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if index < k:
        return [*path(hashes[:k], index), _root(hashes[k:])]
    return [*path(hashes[k:], index - k), _root(hashes[:k])]


def verify_path(leaf: bytes, *, index: int, size: int, siblings: Sequence[bytes], root_hex: str) -> bool:
    """Whether leaf hash ``index`` of a tree of ``size`` leaves leads to ``root_hex`` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, value = index, size - 1, leaf
    for sibling in siblings:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            value = node_hash(sibling, value)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            value = node_hash(value, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and value.hex() == root_hex
