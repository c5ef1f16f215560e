"""Forked workers: every item answered once, and a worker that grew is replaced by a fresh one."""

from __future__ import annotations

import os
from collections import Counter

from leitplanke.engine import forking

_HELD: list[bytes] = []  # what a worker keeps, as the CEL runtime keeps what it was given


def _growing(item: int) -> tuple[int, int]:
    _HELD.append(os.urandom(4 << 20))  # 4 MB a call, touched, never given back
    return item, os.getpid()


def test_workers_that_grew_are_replaced_and_every_item_is_answered_once() -> None:
    answers = list(forking.forked_map(_growing, list(range(24)), processes=2, retire_mb=10))
    assert sorted(item for item, _ in answers) == list(range(24))
    per_worker = Counter(pid for _, pid in answers)
    # 10 MB at 4 MB an item: a worker retires after its third item (a fourth where the
    # allocator reused freed memory), so 24 items take six workers or more
    assert max(per_worker.values()) <= 4
    assert len(per_worker) >= 6
    assert os.getpid() not in per_worker


def test_workers_that_never_retire_answer_everything_themselves() -> None:
    answers = list(forking.forked_map(_growing, list(range(12)), processes=2))
    assert sorted(item for item, _ in answers) == list(range(12))
    assert len({pid for _, pid in answers}) <= 2
