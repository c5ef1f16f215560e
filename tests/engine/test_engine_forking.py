"""Forked workers: every item answered once, and a worker that grew is replaced by a fresh one."""

from __future__ import annotations

import mmap
import os
from collections import Counter

from leitplanke.engine import forking

_HELD: list[mmap.mmap] = []  # what a worker keeps, as the CEL runtime keeps what it was given


def _growing(item: int) -> tuple[int, int]:
    # 4 MB a call, touched, never given back: a mapping of its own, as malloc could hand out memory the
    # test process had already made resident (its mmap threshold moves with what it freed before)
    block = mmap.mmap(-1, 4 << 20)
    block.write(b"\1" * (4 << 20))
    _HELD.append(block)
    return item, os.getpid()


def test_workers_that_grew_are_replaced_and_every_item_is_answered_once() -> None:
    answers = list(forking.forked_map(_growing, list(range(24)), processes=2, retire_mb=10))
    assert sorted(item for item, _ in answers) == list(range(24))
    per_worker = Counter(pid for _, pid in answers)
    # 10 MB at 4 MB an item: a worker retires after its third item (a fourth where its start was
    # measured before pages it shares with this process were counted), so 24 items take six or more
    assert max(per_worker.values()) <= 4
    assert len(per_worker) >= 6
    assert os.getpid() not in per_worker


def test_workers_that_never_retire_answer_everything_themselves() -> None:
    answers = list(forking.forked_map(_growing, list(range(12)), processes=2))
    assert sorted(item for item, _ in answers) == list(range(12))
    assert len({pid for _, pid in answers}) <= 2
