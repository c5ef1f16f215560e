"""What the domain packs say about files: ``failing(paths, packs)`` for the tests of ``tests/configs``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from leitplanke.engine import compiling, loading, scanning
from leitplanke.sources import files

NOW = datetime(2025, 6, 1, tzinfo=UTC)
Failing = set[tuple[str, str, str, int, str]]


def scan_failing(paths: Sequence[str], packs: Sequence[str]) -> Failing:
    """(policy, rule, file, line, verdict) of every result of ``packs`` on ``paths`` that did not pass."""
    loaded = loading.load_packs(list(packs), now=NOW)
    compiled, problems = compiling.compile_policies(loaded.policies)
    assert loaded.problems == [] and problems == []
    sources = list(files.iter_sources(list(paths)))
    report = scanning.scan(sources, compiled=compiled, load=files.load_source, now=NOW, jobs=1)
    return {
        (r.policy, r.rule, r.location.file, r.location.line, r.verdict.value)
        for r in report.results
        if r.verdict.value != "pass" and r.location is not None
    }


@pytest.fixture
def failing() -> Callable[[Sequence[str], Sequence[str]], Failing]:
    return scan_failing
