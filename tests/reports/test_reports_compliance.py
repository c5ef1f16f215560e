"""The compliance view: exact figures per control on a hand-built scan, its table and JSON, and the CLI.

A resource passes a control when every result of every rule mapped to the control passes; a fail,
warn or error fails it; a waived failure (and nothing failing) makes it waived.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest

from leitplanke.core.policies import Match, Policy, Rule, Severity
from leitplanke.core.results import Location, Resource, Result, ScanReport, Verdict
from leitplanke.engine import loading, parsing
from leitplanke.reports import compliance, jsonreports

ROOT = Path(__file__).parents[2]

PRIVILEGED = Policy(
    id="disallow-privileged",
    title="Privileged containers are not allowed",
    severity=Severity.CRITICAL,
    controls=("PSS:baseline/privileged", "CIS-K8s:5.2.2"),
    rules=(Rule("no-privileged", "true"),),
    pack="pss-baseline",
)
NON_ROOT = Policy(
    id="require-run-as-non-root",
    title="Containers must run as non-root",
    severity=Severity.MEDIUM,
    controls=("PSS:restricted/runAsNonRoot", "CIS-K8s:5.2.7"),
    rules=(Rule("pod", "true"), Rule("containers", "true")),
    pack="pss-restricted",
)
ROOT_USER = Policy(
    id="disallow-run-as-root-user",
    title="Pods must not run as UID 0",
    severity=Severity.MEDIUM,
    controls=("PSS:restricted/runAsUser", "CIS-K8s:5.2.7"),
    rules=(Rule("run-as-user", "true"),),
    pack="pss-restricted",
)
CLUSTER_ADMIN = Policy(
    id="restrict-cluster-admin",
    title="Nobody is bound to cluster-admin",
    severity=Severity.HIGH,
    controls=("CIS-K8s:5.1.1", "NSA-K8s:role-based-access-control"),
    rules=(Rule("no-binding", "true"),),
    match=Match(kinds=("ClusterRoleBinding",)),
    pack="hardening",
)
LABELS = Policy(
    id="require-pod-security-labels",
    title="Namespaces choose a Pod Security level",
    severity=Severity.MEDIUM,
    controls=("CIS-K8s:5.2.10",),
    rules=(Rule("labels", "true"),),
    pack="hardening",
)
POLICIES = {p.id: p for p in (PRIVILEGED, NON_ROOT, ROOT_USER, CLUSTER_ADMIN, LABELS)}

WEB = Resource("apps/v1", "Deployment", "shop", "web")
BATCH = Resource("batch/v1", "CronJob", "batch", "nightly")
DEBUG = Resource("v1", "Pod", "shop", "debug")
LEGACY = Resource("v1", "Pod", "legacy", "old")
HELPER = Resource("v1", "Pod", "shop", "helper")
ADMIN = Resource("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "ci-admin")
FILES = {WEB: "web.yaml", BATCH: "batch.yaml", DEBUG: "debug.yaml", LEGACY: "legacy.yaml", HELPER: "h.yaml"}


def _result(policy: Policy, rule: str, resource: Resource, verdict: Verdict, **extra: str) -> Result:
    file = extra.get("file", FILES.get(resource, "rbac.yaml"))
    return Result(
        policy=policy.id,
        rule=rule,
        resource=resource,
        verdict=verdict,
        severity=policy.severity,
        message="",
        location=Location(file, 1),
        waiver=extra.get("waiver", ""),
        category=policy.category,
        controls=policy.controls,
    )


P, F, W, E, S = Verdict.PASS, Verdict.FAIL, Verdict.WARN, Verdict.ERROR, Verdict.SKIP


def build_report() -> ScanReport:
    results = [
        # privileged: web passes in two files (an overlay: two documents), batch fails twice
        _result(PRIVILEGED, "no-privileged", WEB, P),
        _result(PRIVILEGED, "no-privileged", WEB, P, file="overlay/web.yaml"),
        _result(PRIVILEGED, "no-privileged", BATCH, F),
        _result(PRIVILEGED, "no-privileged", BATCH, F),
        _result(PRIVILEGED, "no-privileged", DEBUG, P),
        _result(PRIVILEGED, "no-privileged", LEGACY, S, waiver="legacy-pods"),
        # run as non-root: two rules; an error fails, a waived failure alone makes the resource waived
        _result(NON_ROOT, "pod", WEB, P),
        _result(NON_ROOT, "containers", WEB, P),
        _result(NON_ROOT, "pod", BATCH, P),
        _result(NON_ROOT, "containers", BATCH, F),
        _result(NON_ROOT, "pod", DEBUG, P),
        _result(NON_ROOT, "containers", DEBUG, E),
        _result(NON_ROOT, "pod", LEGACY, P),
        _result(NON_ROOT, "containers", LEGACY, S, waiver="legacy-pods"),
        # root user: a warning fails; a skip without a waiver checks nothing
        _result(ROOT_USER, "run-as-user", WEB, P),
        _result(ROOT_USER, "run-as-user", BATCH, W),
        _result(ROOT_USER, "run-as-user", DEBUG, P),
        _result(ROOT_USER, "run-as-user", LEGACY, P),
        _result(ROOT_USER, "run-as-user", HELPER, S),
        _result(CLUSTER_ADMIN, "no-binding", ADMIN, F),
    ]
    return ScanReport(results=results, documents=7)


def figures(view: compliance.Compliance) -> list[tuple[str, int, int, int, int, float | None]]:
    return [
        (c.id, c.tally.checked, c.tally.passing, c.tally.failing, c.tally.waived, c.tally.percent)
        for c in view.controls
    ]


def test_pss_restricted_counts_the_restricted_and_the_baseline_controls_per_resource():
    view = compliance.build_compliance(build_report(), framework="pss-restricted", policies=POLICIES)
    assert figures(view) == [
        ("PSS:baseline/privileged", 5, 3, 1, 1, 60.0),
        ("PSS:restricted/runAsNonRoot", 4, 1, 2, 1, 25.0),
        ("PSS:restricted/runAsUser", 4, 3, 1, 0, 75.0),
    ]
    total = view.total
    assert (total.checked, total.passing, total.failing, total.waived, total.percent) == (13, 7, 4, 2, 53.8)
    assert view.resources == 5  # web twice (two documents), batch, debug, legacy; not helper


def test_pss_baseline_counts_only_the_baseline_controls():
    view = compliance.build_compliance(build_report(), framework="pss-baseline", policies=POLICIES)
    assert figures(view) == [("PSS:baseline/privileged", 5, 3, 1, 1, 60.0)]


def test_cis_joins_the_rules_of_every_policy_mapped_to_a_control_and_lists_unchecked_controls():
    view = compliance.build_compliance(build_report(), framework="cis", policies=POLICIES)
    assert figures(view) == [
        ("CIS-K8s:5.1.1", 1, 0, 1, 0, 0.0),
        ("CIS-K8s:5.2.2", 5, 3, 1, 1, 60.0),
        # legacy: non-root waived, root user passes → waived; batch fails both
        ("CIS-K8s:5.2.7", 4, 1, 2, 1, 25.0),
        ("CIS-K8s:5.2.10", 0, 0, 0, 0, None),
    ]
    assert view.controls[2].title == "Pods must not run as UID 0; Containers must run as non-root"


def test_a_framework_no_loaded_policy_implements_is_empty():
    view = compliance.build_compliance(build_report(), framework="cks", policies=POLICIES)
    assert (view.controls, view.resources, view.total.percent) == ((), 0, None)


def test_the_packs_implementing_a_framework_come_from_the_policies_controls():
    policies = list(POLICIES.values())
    assert compliance.packs_implementing("pss-restricted", policies) == ["pss-baseline", "pss-restricted"]
    assert compliance.packs_implementing("pss-baseline", policies) == ["pss-baseline"]
    assert compliance.packs_implementing("nsa", policies) == ["hardening"]
    assert compliance.packs_implementing("cks", policies) == []


def test_control_ids_sort_in_natural_order():
    ids = ["CIS-K8s:5.2.10", "CIS-K8s:5.2.9", "CIS-K8s:5.10.1", "CIS-K8s:5.2.2"]
    assert sorted(ids, key=compliance.natural_key) == [
        "CIS-K8s:5.2.2",
        "CIS-K8s:5.2.9",
        "CIS-K8s:5.2.10",
        "CIS-K8s:5.10.1",
    ]


def test_the_json_view_has_every_control_and_the_total():
    view = compliance.build_compliance(build_report(), framework="pss-restricted", policies=POLICIES)
    assert compliance.to_json(view) == {
        "framework": "pss-restricted",
        "controls": [
            {
                "id": "PSS:baseline/privileged",
                "title": "Privileged containers are not allowed",
                "checked": 5,
                "passing": 3,
                "failing": 1,
                "waived": 1,
                "percent": 60.0,
            },
            {
                "id": "PSS:restricted/runAsNonRoot",
                "title": "Containers must run as non-root",
                "checked": 4,
                "passing": 1,
                "failing": 2,
                "waived": 1,
                "percent": 25.0,
            },
            {
                "id": "PSS:restricted/runAsUser",
                "title": "Pods must not run as UID 0",
                "checked": 4,
                "passing": 3,
                "failing": 1,
                "waived": 0,
                "percent": 75.0,
            },
        ],
        "total": {
            "controls": 3,
            "resources": 5,
            "checked": 13,
            "passing": 7,
            "failing": 4,
            "waived": 2,
            "percent": 53.8,
        },
    }


def test_the_scan_json_gains_a_compliance_key_and_stays_valid(now):
    report = build_report()
    view = compliance.build_compliance(report, framework="cis", policies=POLICIES)
    buffer = io.StringIO()
    compliance.write_json(report, view, buffer, now=now)
    document = json.loads(buffer.getvalue())
    jsonschema.Draft202012Validator(jsonreports.load_schema()).validate(document)
    assert document.pop("compliance") == compliance.to_json(view)
    assert document == json.loads(jsonreports.render(report, policies=POLICIES, now=now))


def test_the_table_lists_each_control_with_its_policies_and_a_total_line(golden):
    view = compliance.build_compliance(build_report(), framework="cis", policies=POLICIES)
    golden("compliance-cis.txt", compliance.render_table(view, width=100))


def test_the_coloured_table_marks_full_partial_and_failed_compliance(golden):
    view = compliance.build_compliance(build_report(), framework="pss-restricted", policies=POLICIES)
    golden("compliance-pss-restricted-color.txt", compliance.render_table(view, color=True, width=100))


def _scan(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", "scan", "examples", *options],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_scan_with_compliance_on_the_examples_loads_the_pss_packs_and_counts_per_control():
    run = _scan("--compliance", "pss-restricted", "-f", "json")
    assert run.returncode == 1, run.stderr  # examples/bad fails high-severity checks
    document = json.loads(run.stdout)
    jsonschema.Draft202012Validator(jsonreports.load_schema()).validate(document)
    packs = loading.load_packs(["pss-baseline", "pss-restricted"], now=parsing.parse_timestamp("2025-06-01"))
    pss = {p.id for p in packs.policies}
    assert {r["policy"] for r in document["results"]} <= pss  # only the packs that implement it
    view = document["compliance"]
    assert view["framework"] == "pss-restricted"
    assert [c["id"] for c in view["controls"]] == sorted(
        {c for p in packs.policies for c in p.controls if c.startswith("PSS:")}, key=compliance.natural_key
    )
    # the same figures, recounted from the results: a resource fails a control when one result does
    verdicts: dict[str, dict[tuple[str, int], set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in document["results"]:
        for control in r["controls"]:
            verdicts[control][(r["location"]["file"], r["location"]["index"])].add(r["verdict"])
    for control in view["controls"]:
        seen = verdicts[control["id"]]
        failing = sum(1 for found in seen.values() if found & {"fail", "warn", "error"})
        assert (control["checked"], control["failing"], control["waived"]) == (len(seen), failing, 0)
        assert control["passing"] == control["checked"] - control["failing"]
        assert control["percent"] == round(100 * control["passing"] / control["checked"], 1)
    assert view["total"]["failing"] > 0 and view["total"]["passing"] > 0


def test_scan_with_compliance_prints_the_view_after_the_table():
    run = _scan("--compliance", "cis")
    table = run.stdout
    assert "Compliance: cis (CIS Kubernetes Benchmark)" in table
    assert table.index("checks:") < table.index("Compliance: cis")
    assert "CIS-K8s:5.2.2" in table and " total (" in table


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--compliance", "iso27001"),
            "--compliance 'iso27001': use one of pss-restricted, pss-baseline, cis",
        ),
        (
            ("--compliance", "cis", "-f", "sarif"),
            "--compliance shows in the table and json formats, not in sarif",
        ),
    ],
)
def test_scan_refuses_an_unknown_framework_or_a_format_without_the_view(options, message):
    run = _scan(*options)
    assert run.returncode == 2
    assert message in run.stderr
