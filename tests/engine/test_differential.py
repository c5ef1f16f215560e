"""The fast path against the reference: every built-in pack (and the suites' own Kyverno,
VAP and Gatekeeper policies) over the real manifests of ../shared/bench, a generated corpus
and the resources of the ../shared/corpus suites must give the very same results, rule by
rule as through the document program: verdict, message, path, line, code, fix, evaluations."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from leitplanke.core.documents import Document
from leitplanke.core.results import Result, Verdict
from leitplanke.engine import compiling, contexts, evaluating, loading
from leitplanke.engine.compat.gatekeeper import gatortests
from leitplanke.engine.compat.kyverno import clitests
from leitplanke.sources import files

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SHARED = Path(__file__).resolve().parents[3] / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
BENCH = SHARED / "bench"
CORPUS = SHARED / "corpus"
# an admission request around every document: the same door as a webhook's
UPDATE = contexts.Context(
    operation="UPDATE",
    old_object={"metadata": {"name": "before", "labels": {"team": "a"}}},
    user_info={"username": "alice", "groups": ["dev"]},
    namespace_object={"metadata": {"name": "shop", "labels": {"env": "prod"}}},
    environment="prod",
    dry_run=True,
)


def _packs() -> loading.Loaded:
    loaded = loading.load_packs(loading.available_packs(), now=NOW)
    assert loaded.problems == []
    return loaded


@pytest.fixture(scope="module")
def packs() -> compiling.CompiledSet:
    compiled, problems = compiling.compile_policies(_packs().policies)
    assert problems == []
    assert len(compiled.document_slots) > 0.9 * len(compiled.policies)  # the fast path is taken
    return compiled


def _documents(paths: Iterable[Path]) -> list[Document]:
    return [item for path in paths for item in files.load_path(str(path)) if isinstance(item, Document)]


def _row(result: Result) -> tuple[object, ...]:
    r, loc = result.resource, result.location
    return (
        result.policy,
        result.rule,
        f"{r.kind}/{r.namespace}/{r.name}",
        result.verdict.value,
        result.message,
        loc.path,
        loc.line,
        result.code,
        result.fix,
    )


def _differences(
    compiled: compiling.CompiledSet, documents: Sequence[Document], *, context: contexts.Context
) -> tuple[list[str], dict[str, int]]:
    """Where the two paths disagree (the first few, printed), and the verdicts seen."""
    differences: list[str] = []
    verdicts = {verdict.value: 0 for verdict in Verdict}
    for doc in documents:
        fast = evaluating.evaluate_document(compiled, doc, context=context)
        reference = evaluating.evaluate_document(compiled, doc, context=context, reference=True)
        for result in reference.results:
            verdicts[result.verdict.value] += 1
        where = f"{doc.origin.file}#{doc.origin.index}"
        if fast.results != reference.results:
            pairs = zip(fast.results, reference.results, strict=False)
            first = next(((a, b) for a, b in pairs if a != b), None)
            differences.append(
                f"{where}: {len(fast.results)} results fast, {len(reference.results)} reference; first "
                + (f"fast {_row(first[0])} reference {_row(first[1])}" if first else "extra result")
            )
        elif fast.evaluations != reference.evaluations:
            differences.append(
                f"{where}: {fast.evaluations} evaluations fast, {reference.evaluations} reference"
            )
    for line in differences[:5]:
        print(line)
    return differences, verdicts


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpora are read from there, never copied")


def test_the_fast_path_gives_the_reference_results_on_every_real_manifest(
    packs: compiling.CompiledSet,
) -> None:
    _need(BENCH / "real")
    documents = _documents(sorted((BENCH / "real").iterdir()))
    assert len(documents) > 1000
    differences, verdicts = _differences(packs, documents, context=contexts.NO_REQUEST)
    assert differences == []
    assert min(verdicts["pass"], verdicts["fail"], verdicts["error"]) > 0  # every path was walked


def test_the_fast_path_gives_the_reference_results_inside_an_admission_request(
    packs: compiling.CompiledSet,
) -> None:
    _need(BENCH / "real")
    documents = _documents(sorted((BENCH / "real").iterdir()))[::4]
    differences, _ = _differences(packs, documents, context=UPDATE)
    assert differences == []


def test_the_fast_path_gives_the_reference_results_on_a_generated_corpus(
    packs: compiling.CompiledSet, tmp_path: Path
) -> None:
    _need(BENCH / "gen_corpus.py")
    out = tmp_path / "gen"
    subprocess.run(
        [sys.executable, str(BENCH / "gen_corpus.py"), "--out", str(out), "--count", "1000", "--seed", "1"],
        check=True,
        capture_output=True,
    )
    documents = _documents([out])
    assert len(documents) == 1000
    differences, verdicts = _differences(packs, documents, context=contexts.NO_REQUEST)
    assert differences == []
    assert min(verdicts["pass"], verdicts["fail"]) > 0


Suite = tuple[list[Path], list[Path]]  # (policy files, resource files) of one test or suite


def _kyverno_suites() -> list[Suite]:
    """The policies and resources of every Kyverno test in the corpus."""
    suites: list[Suite] = []
    for test in clitests.find_tests([str(CORPUS / "kyverno")]):
        for body in yaml.safe_load_all(test.read_text(encoding="utf-8")):
            if isinstance(body, dict):
                policies = [test.parent / str(p) for p in body.get("policies") or []]
                suites.append((policies, [test.parent / str(r) for r in body.get("resources") or []]))
    return suites


def _gatekeeper_suites() -> list[Suite]:
    """The template, constraint and objects of every test of every Gatekeeper suite in the corpus."""
    suites: list[Suite] = []
    for suite in gatortests.find_suites([str(CORPUS / "gatekeeper")]):
        for body in yaml.safe_load_all(suite.read_text(encoding="utf-8")):
            for test in (body or {}).get("tests") or []:
                policies = [
                    suite.parent / str(test[key]) for key in ("template", "constraint") if test.get(key)
                ]
                objects = [
                    suite.parent / str(c["object"]) for c in test.get("cases") or [] if c.get("object")
                ]
                suites.append((policies, objects))
    return suites


def test_the_fast_path_gives_the_reference_results_on_the_kyverno_and_gatekeeper_suites(
    packs: compiling.CompiledSet,
) -> None:
    """Every pack over every suite's resources, and each suite's own policies over its own
    resources (as ``leitplanke test`` runs them: a suite's policies read only its resources)."""
    _need(CORPUS / "kyverno")
    _need(CORPUS / "gatekeeper")
    suites = _kyverno_suites() + _gatekeeper_suites()
    assert len(suites) > 250
    everything = _documents(sorted({p for _, resources in suites for p in resources if p.is_file()}))
    # the -cel and -vpol variants of a Kyverno policy share their resources: each body once
    distinct = list({json.dumps(d.body, sort_keys=True, default=str): d for d in everything}.values())
    assert len(distinct) > 1000
    differences, verdicts = _differences(packs, distinct, context=contexts.NO_REQUEST)
    assert differences == []
    own_verdicts = dict.fromkeys(verdicts, 0)
    for policies, resources in suites:
        loaded = loading.load_paths([str(p) for p in policies if p.is_file()], now=NOW)
        compiled, _ = compiling.compile_policies(
            loaded.policies, foreign=loaded.foreign, environment=packs.environment
        )
        documents = _documents([p for p in resources if p.is_file()])
        differences, verdicts = _differences(compiled, documents, context=contexts.NO_REQUEST)
        assert differences == []
        for verdict, number in verdicts.items():
            own_verdicts[verdict] += number
    assert min(own_verdicts["pass"], own_verdicts["fail"]) > 0
