"""What the domain packs say about files: ``failing(paths, packs)`` for the tests of ``tests/configs``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from leitplanke import engine
from leitplanke.engine import loading
from leitplanke.sources import files

NOW = datetime(2025, 6, 1, tzinfo=UTC)
Failing = set[tuple[str, str, str, int, str]]


def scan_failing(paths: Sequence[str], packs: Sequence[str]) -> Failing:
    """(policy, rule, file, line, verdict) of every result of ``packs`` on ``paths`` that did not pass."""
    loaded = loading.load_packs(list(packs), now=NOW)
    policy_set = engine.compile(loaded.policies)
    assert loaded.problems == [] and policy_set.problems == ()
    sources = list(files.iter_sources(list(paths)))
    report = engine.Collected()
    engine.scan(policy_set, sources, report, load=files.load_source, now=NOW, jobs=1)
    return {
        (r.policy, r.rule, r.location.file, r.location.line, r.verdict.value)
        for r in report.results
        if r.verdict.value != "pass" and r.location is not None
    }


@pytest.fixture
def failing() -> Callable[[Sequence[str], Sequence[str]], Failing]:
    return scan_failing
