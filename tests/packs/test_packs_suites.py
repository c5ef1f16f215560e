"""Every built-in pack passes its own policy tests, and every policy is complete.

Runs the packs' ``PolicyTest`` files through ``engine.testing`` per pack, then checks what the
issue requires of each policy: metadata, controls, rationale, remediation, and tests of every rule.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from leitplanke.cli import testcmd
from leitplanke.core.policies import Policy, Severity
from leitplanke.engine import loading, testing
from leitplanke.sources import files

NOW = datetime(2025, 6, 1, tzinfo=UTC)
PACKS = loading.available_packs()
REQUIRED_FIELDS = ("title", "severity", "category", "controls", "description", "remediation")


@cache
def pack_tests(pack: str) -> testing.TestReport:
    directory = loading.pack_directory(pack)
    # the loaders of `leitplanke test`
    return testing.run_tests(
        [str(directory / "tests")], load_resources=files.load_path, now=NOW, domain_of=testcmd.domain_of
    )


def pack_policies(pack: str) -> list[Policy]:
    loaded = loading.load_packs([pack], now=NOW)
    assert loaded.problems == []
    return loaded.policies


def raw_spec(policy: Policy) -> dict[str, Any]:
    """The spec as written: the loader fills in defaults (a title, medium severity) that must not count."""
    document = yaml.safe_load(Path(policy.source.file).read_text(encoding="utf-8"))
    spec: dict[str, Any] = document["spec"]
    return spec


def test_the_packs_of_the_issue_are_there() -> None:
    assert {"hardening", "observability", "pss-baseline", "pss-restricted", "reliability"} <= set(PACKS)


@pytest.mark.parametrize("pack", PACKS)
def test_every_policy_test_of_the_pack_holds(pack: str) -> None:
    report = pack_tests(pack)
    failed = [
        f"{row.test}:{row.line} {row.policy}/{row.rule or '*'} {row.resource}: "
        f"expected {row.expected}, got {row.actual}"
        for row in report.rows
        if not row.ok
    ]
    assert report.rows, f"pack {pack} has no test rows"
    assert failed == []
    assert [problem.render() for problem in report.problems] == []


@pytest.mark.parametrize("pack", PACKS)
def test_every_policy_of_the_pack_has_metadata_controls_rationale_and_remediation(pack: str) -> None:
    incomplete = []
    for policy in pack_policies(pack):
        spec = raw_spec(policy)
        missing = [name for name in REQUIRED_FIELDS if not spec.get(name)]
        if missing:
            incomplete.append(f"{policy.id}: {', '.join(missing)}")
        assert Severity.parse(str(spec.get("severity", "medium"))) is policy.severity
        assert all(control.strip() for control in policy.controls), policy.id
    assert incomplete == []


@pytest.mark.parametrize("pack", PACKS)
def test_every_rule_is_tested_in_its_policys_tests_file_with_a_passing_and_a_failing_resource(
    pack: str,
) -> None:
    # tests/<policy file name> holds a policy's tests; rows that name no rule do not count
    seen: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for row in pack_tests(pack).rows:
        seen[(Path(row.test).name, row.policy, row.rule)].add(row.expected)
    tests = loading.pack_directory(pack) / "tests"
    untested = []
    for policy in pack_policies(pack):
        own = Path(policy.source.file).name
        if not (tests / own).is_file():
            untested.append(f"{policy.id}: no tests/{own}")
            continue
        for rule in policy.rules:
            failing = rule.verdict_on_fail  # "warn" for rules with action: warn
            expected = seen.get((own, policy.id, rule.name), set())
            if not {"pass", failing} <= expected:
                untested.append(f"{policy.id}/{rule.name}: tests/{own} expects only {sorted(expected)}")
    assert untested == []
