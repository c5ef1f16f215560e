"""``evaluate`` and ``scan`` agree: every document of the bench corpus, every built-in pack, result for result."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from leitplanke import engine
from leitplanke.core.documents import Document
from leitplanke.core.results import Result
from leitplanke.engine import loading
from leitplanke.sources import files

BENCH = Path("/work/shared/bench")
NOW = datetime(2026, 12, 1, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    not (BENCH / "real").is_dir(), reason=f"the shared bench corpus is not at {BENCH}"
)

REQUEST = engine.Context(
    operation="UPDATE",
    user_info={"username": "alice", "groups": ["dev"]},
    namespace_object={
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"env": "prod"}},
    },
    environment="prod",
)
CONTEXTS = [
    pytest.param(engine.Context(), id="no-request"),
    pytest.param(REQUEST, id="update-request"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    generated = tmp_path_factory.mktemp("generated")
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "gen_corpus.py"),
            "--out",
            str(generated),
            "--count",
            "300",
            "--seed",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    return [str(BENCH / "real"), str(generated)]


@cache
def _policy_set() -> engine.PolicySet:
    loaded = loading.load_packs(loading.available_packs(), now=NOW)
    policy_set = engine.compile(loaded.policies)
    assert policy_set.problems == ()
    return policy_set


@pytest.mark.parametrize("context", CONTEXTS)
def test_evaluate_gives_each_document_exactly_the_results_scan_gives_it(
    corpus: list[str], context: engine.Context
) -> None:
    policy_set = _policy_set()
    sources = list(files.iter_sources(corpus))
    sink = engine.Collected()
    scanned = engine.scan(policy_set, sources, sink, load=files.load_source, now=NOW, jobs=2, context=context)
    scanned_results = [r for r in sink.results if (r.policy, r.rule) not in policy_set.set_level_rules]
    evaluated: list[Result] = []
    documents = 0
    for source in sources:
        for item in files.load_source(source):
            if isinstance(item, Document):
                documents += 1
                evaluated.extend(engine.evaluate(policy_set, item, context=context))
    assert documents == scanned.documents > 1000
    # a file may hold several documents at one index (a normalised Envoy config): all of them at once
    scanned_results.sort(key=_total_order)
    evaluated.sort(key=_total_order)
    first = next(
        (i for i, (a, b) in enumerate(zip(scanned_results, evaluated, strict=False)) if a != b), None
    )
    assert first is None, (scanned_results[first], evaluated[first])
    assert len(evaluated) == len(scanned_results) > 10000


def _total_order(result: Result) -> tuple[object, ...]:
    return (*result.sort_key(), repr(result))
