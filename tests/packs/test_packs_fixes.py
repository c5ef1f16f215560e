"""Every fix of the built-in packs repairs what its rule reports, and `fix` leaves real files sound.

Per rule with a ``fix``: each resource its policy's own tests expect to fail is rendered to YAML,
fixed with ``engine.fixing`` and scanned again. Then ``leitplanke fix --unsafe-fixes`` runs on a
copy of ../shared/bench/real: every file still parses to as many documents, and a second pass
changes nothing. Every fix says in its policy file whether it is safe and what it does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from leitplanke import engine
from leitplanke.cli import testcmd
from leitplanke.core.documents import Document
from leitplanke.core.results import Result, Verdict
from leitplanke.engine import fixing, loading
from leitplanke.sources import files, parsing

NOW = datetime(2025, 6, 1, tzinfo=UTC)
PACKS = loading.available_packs()
REAL = Path(__file__).parents[2].parent / "shared" / "bench" / "real"
FIXABLE_SUFFIXES = (".yaml", ".yml")
FAILING = (Verdict.FAIL, Verdict.WARN)


@dataclass(frozen=True, slots=True)
class Case:
    """One failing resource of a policy's own tests, for one rule with a fix."""

    policy: str
    rule: str
    resource: str
    body: Any
    test: Path
    policy_files: tuple[str, ...]


def _fixable_rules() -> list[tuple[str, str]]:
    policies = loading.load_packs(PACKS, now=NOW).policies
    return sorted((p.id, r.name) for p in policies for r in p.rules if r.fix is not None)


def _test_documents(test: Path) -> Iterator[dict[str, Any]]:
    for document in yaml.safe_load_all(test.read_text(encoding="utf-8")):
        if isinstance(document, dict) and document.get("kind") == "PolicyTest":
            yield document


def _resources(test: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Each resource of a test by the name its expectations use (Kind/namespace/name)."""
    bodies: list[Any] = []
    for entry in spec.get("resources") or []:
        if set(entry) == {"file"}:
            loaded = files.load_path(str(test.parent / entry["file"]))
            bodies.extend(item.body for item in loaded if isinstance(item, Document))
        else:
            bodies.append(entry)
    return {_key(body): body for body in bodies}


def _key(body: Any) -> str:
    meta = body.get("metadata") or {}
    parts = [body.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")]
    return "/".join(part for part in parts if part)


@cache
def cases() -> dict[tuple[str, str], list[Case]]:
    found: dict[tuple[str, str], list[Case]] = {rule: [] for rule in _fixable_rules()}
    for pack in PACKS:
        for test in sorted((loading.pack_directory(pack) / "tests").glob("*.y*ml")):
            for document in _test_documents(test):
                spec = document["spec"]
                resources = _resources(test, spec)
                policy_files = tuple(str(test.parent / p) for p in spec.get("policies") or [])
                for row in spec.get("expect") or []:
                    key = (row["policy"], row.get("rule", ""))
                    if key in found and row["verdict"] in ("fail", "warn"):
                        body = resources[row["resource"]]
                        found[key].append(Case(*key, row["resource"], body, test, policy_files))
    return found


def _compiled(policy_files: Sequence[str]) -> engine.PolicySet:
    loaded = loading.load_paths(list(policy_files), now=NOW)
    compiled = engine.compile(loaded.policies)
    assert loaded.problems + list(compiled.problems) == []
    return compiled


def _scan_text(text: str, compiled: engine.PolicySet) -> list[Result]:
    # a normalised configuration (SshdConfig, EnvoyConfig) keeps its domain, as in `leitplanke test`
    items = [
        replace(item, domain=testcmd.domain_of(item.body)) if isinstance(item, Document) else item
        for item in parsing.parse_documents(text.encode("utf-8"), file="resource.yaml")
    ]
    report = engine.Collected()
    engine.scan(compiled, [items], report, load=lambda batch: batch, now=NOW, jobs=1)
    return report.results


FIXABLE_RULES = _fixable_rules()


@pytest.mark.parametrize(("policy", "rule"), FIXABLE_RULES, ids=[f"{p}/{r}" for p, r in FIXABLE_RULES])
def test_the_fix_makes_every_failing_resource_of_the_policys_tests_pass_the_rule(
    policy: str, rule: str
) -> None:
    failing_cases = cases()[(policy, rule)]
    assert failing_cases, f"{policy}/{rule} has a fix but no failing resource in its tests"
    for case in failing_cases:
        compiled = _compiled(case.policy_files)
        text = yaml.safe_dump(case.body, sort_keys=False)
        before = [
            r
            for r in _scan_text(text, compiled)
            if (r.policy, r.rule) == (policy, rule) and r.verdict in FAILING
        ]
        assert before, f"{case.resource} does not fail {policy}/{rule} as {case.test.name} expects"
        assert all(r.fix is not None for r in before)
        outcome = fixing.fix_text(text, before, file="resource.yaml")
        assert outcome.problems == [], case.resource
        assert outcome.changed, f"the fix of {policy}/{rule} changed nothing in {case.resource}"
        after = [
            f"{r.verdict.value}: {r.message}"
            for r in _scan_text(outcome.fixed, compiled)
            if (r.policy, r.rule) == (policy, rule) and r.verdict is not Verdict.PASS
        ]
        assert after == [], f"{case.resource} still fails {policy}/{rule} after the fix:\n{outcome.diff()}"


# the fixes that keep what the workload does in every case their rule fails: each writes down
# the value Kubernetes uses when the field is unset (a Job's backoffLimit defaults to 6)
SAFE_FIXES = [
    ("require-cronjob-job-limits", "backoff-limit"),
    ("require-job-limits", "backoff-limit"),
]


def _written_fixes() -> dict[tuple[str, str], dict[str, Any]]:
    """Each rule's ``fix`` mapping as its policy file writes it (whether ``safe`` is said at all)."""
    written: dict[tuple[str, str], dict[str, Any]] = {}
    for pack in PACKS:
        for path in sorted(loading.pack_directory(pack).glob("*.y*ml")):
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(document, dict) and document.get("kind") == "Policy":
                    for rule in document["spec"].get("rules") or []:
                        if "fix" in rule:
                            written[(document["metadata"]["name"], rule["name"])] = rule["fix"]
    return written


def test_every_built_in_fix_says_whether_it_is_safe_and_what_it_does() -> None:
    written = _written_fixes()

    assert sorted(written) == FIXABLE_RULES
    assert [rule for rule, fix in written.items() if not isinstance(fix.get("safe"), bool)] == []
    assert [rule for rule, fix in written.items() if len(str(fix.get("description", ""))) < 20] == []
    assert sorted(rule for rule, fix in written.items() if fix["safe"]) == SAFE_FIXES


def _copy_yaml(source: Path, target: Path) -> list[Path]:
    copied = []
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix in FIXABLE_SUFFIXES:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
            copied.append(destination)
    return copied


def _shape(path: Path) -> int | str:
    """How many documents the file holds, or why it does not parse (templates, upstream errors)."""
    try:
        return sum(1 for document in yaml.safe_load_all(path.read_bytes()) if document is not None)
    except yaml.YAMLError as exc:
        return f"unparsable: {type(exc).__name__}"


def _scan_tree(root: Path) -> list[Result]:
    loaded = loading.load_packs(PACKS, now=NOW)
    compiled = engine.compile(loaded.policies)
    assert list(compiled.problems) == []
    sources = list(files.iter_sources([str(root)]))
    report = engine.Collected()
    engine.scan(compiled, sources, report, load=files.load_source, now=NOW)
    return report.results


def _holds_a_list(path: Path) -> bool:
    documents = yaml.safe_load_all(path.read_bytes())
    return any(isinstance(doc, dict) and doc.get("kind") == "List" for doc in documents)


def _failing(results: Sequence[Result]) -> set[tuple[str, str, str, str, str]]:
    return {
        (r.location.file, r.resource.display, r.policy, r.rule, r.location.path)
        for r in results
        if r.verdict is Verdict.FAIL
    }


def _would_change(results: Sequence[Result]) -> list[str]:
    """The files ``leitplanke fix`` would change given these results (what its second run does)."""
    changed = []
    for file, fixable in sorted(fixing.fixable(results).items()):
        path = Path(file)
        if path.suffix in FIXABLE_SUFFIXES and path.is_file():
            outcome = fixing.fix_text(path.read_text(encoding="utf-8"), fixable, file=file)
            if outcome.changed:
                changed.append(file)
    return changed


def _fix(root: Path) -> subprocess.CompletedProcess[str]:
    packs = [option for pack in PACKS for option in ("--pack", pack)]
    return subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", "fix", str(root), "--unsafe-fixes", *packs],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,  # no leitplanke.yaml of the checkout applies
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.mark.skipif(not REAL.is_dir(), reason=f"the shared real-world corpus is not at {REAL}")
def test_fix_on_the_real_manifests_keeps_every_file_sound_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "real"
    copied = _copy_yaml(REAL, root)
    shapes = {path: _shape(path) for path in copied}
    texts = {path: path.read_bytes() for path in copied}
    before = _failing(_scan_tree(root))

    run = _fix(root)
    assert run.returncode == 0, run.stderr
    rescanned = _scan_tree(root)
    after = _failing(rescanned)
    changed = [path for path in copied if path.read_bytes() != texts[path]]
    print(
        f"\nbench/real: {len(copied)} YAML files, {len(changed)} changed by fix; "
        f"failing results before {len(before)}, after {len(after)}\n{run.stderr.strip().splitlines()[-1]}"
    )
    assert {path: _shape(path) for path in copied} == shapes
    # a file that does not parse (a Helm template) is never touched
    assert [path for path in changed if isinstance(shapes[path], str)] == []
    assert changed and len(after) < len(before)
    # fixing never makes something fail that did not fail before
    assert sorted(after - before) == []
    # what still fails with a fix is in files fix refused to write (it says so) or in List items
    left = sorted({file for file in fixing.fixable(rescanned) if Path(file).suffix in FIXABLE_SUFFIXES})
    refused = {line.split(": ", 1)[0] for line in run.stderr.splitlines() if ": error fix-" in line}
    print(f"fixable failures left in {len(left)} files; fix refused to write {len(refused)} files")
    assert [file for file in left if file not in refused and not _holds_a_list(Path(file))] == []
    # a second run (the same scan, then the same fixes) changes nothing
    assert _would_change(rescanned) == []
