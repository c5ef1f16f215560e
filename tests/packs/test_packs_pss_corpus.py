"""The two PSS packs against Kyverno's own Pod Security test suites, row by row.

Kyverno's suites (../shared/corpus/kyverno) list resources and the verdict upstream expects per
policy, rule and resource. Our verdict for a row is that of every rule of ours that implements the
same control; pod controllers (Deployment, CronJob) count like pods. Nothing is copied from the corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from leitplanke import engine
from leitplanke.core.documents import Document, pod_spec_of
from leitplanke.core.policies import Policy
from leitplanke.core.results import Result, Verdict
from leitplanke.engine import loading
from leitplanke.sources import files

CORPUS = Path(__file__).parents[2].parent / "shared" / "corpus" / "kyverno"
SUITES = ("pod-security", "pod-security-cel", "pod-security-vpol")
PACKS = ("pss-baseline", "pss-restricted")
NOW = datetime(2025, 6, 1, tzinfo=UTC)

# Each Kyverno policy (ClusterPolicy, CEL ClusterPolicy or ValidatingPolicy: the three suites share
# names) → the PSS controls it checks. A row's verdict of ours comes from every rule of every policy
# of the two packs that lists one of these controls; an id ending in "/" stands for the whole profile.
CONTROLS: dict[str, tuple[str, ...]] = {
    "disallow-host-process": ("PSS:baseline/windowsHostProcess",),
    "disallow-selinux": ("PSS:baseline/seLinuxOptions",),
    "restrict-apparmor-profiles": ("PSS:baseline/appArmorProfile",),
    "restrict-seccomp": ("PSS:baseline/seccompProfile",),
    "restrict-sysctls": ("PSS:baseline/sysctls",),
    # Kyverno's podSecurity subrule applies the whole baseline profile at once
    "podsecurity-subrule-baseline": ("PSS:baseline/",),
    "disallow-capabilities-strict": ("PSS:restricted/capabilities",),
    "adding-capabilities-strict": ("PSS:restricted/capabilities",),
    "disallow-privilege-escalation": ("PSS:restricted/allowPrivilegeEscalation",),
    "require-run-as-non-root-user": ("PSS:restricted/runAsUser",),
    "require-run-as-nonroot": ("PSS:restricted/runAsNonRoot",),
    "restrict-seccomp-strict": ("PSS:restricted/seccompProfile",),
    "restrict-volume-types": ("PSS:restricted/restrictedVolumes",),
}
# Where one Kyverno rule checks only one part of a control, the rules of ours that check that part.
PARTS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("disallow-capabilities-strict", "require-drop-all"): (("require-drop-all-capabilities", "drop-all"),),
    ("disallow-capabilities-strict", "adding-capabilities-strict"): (
        ("require-drop-all-capabilities", "add-only-net-bind-service"),
    ),
    # the ValidatingPolicy suite splits the strict capabilities check in two policies without rules
    ("adding-capabilities-strict", ""): (("require-drop-all-capabilities", "add-only-net-bind-service"),),
    ("disallow-selinux", "selinux-type"): (
        ("restrict-selinux-options", "selinux-pod-type"),
        ("restrict-selinux-options", "selinux-container-types"),
    ),
    ("disallow-selinux", "selinux-user-role"): (
        ("restrict-selinux-options", "selinux-pod-user-role"),
        ("restrict-selinux-options", "selinux-container-user-role"),
    ),
}
# Kyverno policies that are not the standard. disallow-host-ports-range accepts host ports 5000-6000,
# a "known list" the standard permits but Pod Security admission does not support; the pack follows
# admission (undefined or 0 only). There every upstream failure must be ours too, and where we fail
# a resource upstream passes, its host ports must all lie in that range: the one known difference.
STRICTER: dict[str, tuple[str, ...]] = {"disallow-host-ports-range": ("PSS:baseline/hostPorts",)}
UPSTREAM_HOST_PORTS = range(5000, 6001)


@dataclass(frozen=True, slots=True)
class Row:
    suite: str
    test: str
    policy: str
    rule: str
    kind: str
    name: str
    expected: str
    actual: str
    failing: tuple[str, ...]
    in_upstream_range: bool = False  # only for STRICTER policies: host ports all in the range allowed

    @property
    def stricter(self) -> bool:
        return self.in_upstream_range and (self.expected, self.actual) == ("pass", "fail")

    @property
    def agrees(self) -> bool:
        if self.stricter:
            return True
        if self.expected == "fail":
            return self.actual == "fail"
        # pass, and skip: no failure of ours (a resource none of our rules matched fails nothing)
        return self.actual in ("pass", "none")

    def render(self) -> str:
        rule = f"/{self.rule}" if self.rule else ""
        because = f" ({', '.join(self.failing)})" if self.failing else ""
        return (
            f"{self.suite}/{self.test}: {self.policy}{rule} {self.kind}/{self.name}: "
            f"upstream {self.expected}, ours {self.actual}{because}"
        )


def _test_files(suite: str) -> list[Path]:
    # the suites keep their tests in hidden .kyverno-test folders
    return sorted(path for path in (CORPUS / suite).rglob("kyverno-test.yaml"))


def _pack_policies() -> list[Policy]:
    loaded = loading.load_packs(PACKS, now=NOW)
    assert loaded.problems == []
    return loaded.policies


def _rules_for(policy: str, rule: str, policies: Sequence[Policy]) -> frozenset[tuple[str, str]]:
    # Kyverno expands pod rules to controllers as autogen-<rule> and autogen-cronjob-<rule>
    rule = rule.removeprefix("autogen-").removeprefix("cronjob-") if rule.startswith("autogen-") else rule
    if (policy, rule) in PARTS:
        return frozenset(PARTS[(policy, rule)])
    return _control_rules(policy, policies)


def _control_rules(policy: str, policies: Sequence[Policy]) -> frozenset[tuple[str, str]]:
    controls = CONTROLS.get(policy) or STRICTER[policy]
    return frozenset(
        (p.id, r.name)
        for p in policies
        if any(_implements(control, wanted) for control in p.controls for wanted in controls)
        for r in p.rules
    )


def _implements(control: str, wanted: str) -> bool:
    return control.startswith(wanted) if wanted.endswith("/") else control == wanted


def _load(test: Path, spec: dict[str, Any]) -> list[Document]:
    items = [item for resource in spec["resources"] for item in files.load_path(str(test.parent / resource))]
    documents = [item for item in items if isinstance(item, Document)]
    assert len(documents) == len(items), f"{test}: a resource did not load: {items}"
    return documents


def _in_upstream_range(doc: Document | None) -> bool:
    spec = pod_spec_of(doc.body) if doc is not None else None
    containers = [
        container
        for key in ("containers", "initContainers", "ephemeralContainers")
        for container in (spec or {}).get(key) or []
    ]
    ports = [port.get("hostPort", 0) for c in containers for port in c.get("ports") or []]
    used = [port for port in ports if port]
    return bool(used) and all(port in UPSTREAM_HOST_PORTS for port in used)


def _our_verdict(results: Sequence[Result], rules: frozenset[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
    mine = [r for r in results if (r.policy, r.rule) in rules]
    failing = tuple(sorted({f"{r.policy}/{r.rule}" for r in mine if r.verdict is not Verdict.PASS}))
    if failing:
        return "fail", failing
    return ("pass" if mine else "none"), ()


def compare(suite: str) -> Iterator[Row]:
    policies = _pack_policies()
    compiled = engine.compile(policies)
    assert list(compiled.problems) == []
    for test in _test_files(suite):
        spec = yaml.safe_load(test.read_text(encoding="utf-8"))
        documents = _load(test, spec)
        by_name = {(doc.kind, doc.name): doc for doc in documents}
        assert len(by_name) == len(documents), f"{test}: two resources share a kind and name"
        report = engine.Collected()
        engine.scan(compiled, [documents], report, load=lambda batch: batch, now=NOW, jobs=1)
        by_resource: dict[tuple[str, str], list[Result]] = {}
        for result in report.results:
            by_resource.setdefault((result.resource.kind, result.resource.name), []).append(result)
        for entry in spec["results"]:
            policy, rule = entry["policy"], entry.get("rule", "")
            rules = _rules_for(policy, rule, policies)
            for resource in entry["resources"]:
                name = resource.rsplit("/", 1)[-1]  # entries may be written namespace/name
                actual, failing = _our_verdict(by_resource.get((entry["kind"], name), []), rules)
                yield Row(
                    suite=suite,
                    test=test.parent.parent.name,
                    policy=policy,
                    rule=rule,
                    kind=entry["kind"],
                    name=name,
                    expected=entry["result"],
                    actual=actual,
                    failing=failing,
                    in_upstream_range=policy in STRICTER
                    and _in_upstream_range(by_name.get((entry["kind"], name))),
                )


@pytest.mark.parametrize("suite", SUITES)
def test_the_pss_packs_give_kyvernos_verdict_on_every_resource_of_the_suite(suite: str) -> None:
    if not (CORPUS / suite).is_dir():
        pytest.skip(
            f"Kyverno's {suite} suite is not at {CORPUS / suite}; the shared corpus is not checked out"
        )
    rows = list(compare(suite))
    disagreeing = [row.render() for row in rows if not row.agrees]
    tally = Counter(f"{row.expected}/{row.actual}" for row in rows if not row.stricter)
    stricter = sum(1 for row in rows if row.stricter)
    print(
        f"\n{suite}: {len(rows) - len(disagreeing)}/{len(rows)} rows agree "
        f"(upstream/ours: {dict(sorted(tally.items()))}; stricter by design: {stricter})"
    )
    assert rows, f"no rows found in {CORPUS / suite}"
    assert {row.policy for row in rows} <= CONTROLS.keys() | STRICTER.keys()
    assert disagreeing == [], "\n".join(disagreeing)
    # every kind the suite checks was evaluated by us, controllers included
    assert {row.kind for row in rows if row.actual != "none"} == {row.kind for row in rows}


def test_every_control_and_rule_of_the_mapping_exists_in_the_packs() -> None:
    policies = _pack_policies()
    implemented = {control for policy in policies for control in policy.controls}
    for wanted in {control for controls in (*CONTROLS.values(), *STRICTER.values()) for control in controls}:
        assert any(_implements(control, wanted) for control in implemented), wanted
    rules = {(policy.id, rule.name) for policy in policies for rule in policy.rules}
    assert {part for parts in PARTS.values() for part in parts} <= rules
    # a part is a proper subset of the rules that implement the Kyverno policy's control
    for (policy, _), parts in PARTS.items():
        assert set(parts) < _control_rules(policy, policies)


def test_autogen_rules_of_pod_controllers_map_like_the_pod_rule() -> None:
    policies = _pack_policies()
    pod_rule = _rules_for("disallow-capabilities-strict", "require-drop-all", policies)
    assert _rules_for("disallow-capabilities-strict", "autogen-require-drop-all", policies) == pod_rule
    assert (
        _rules_for("disallow-capabilities-strict", "autogen-cronjob-require-drop-all", policies) == pod_rule
    )
    assert pod_rule == {("require-drop-all-capabilities", "drop-all")}
