"""The defaults a new user meets: which packs run unasked, what one missing resources block
reports, manifests without a namespace, and a real application scanned as it is published.

The real application is Online Boutique from ``../shared/bench/real`` (skipped when absent).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from leitplanke import engine
from leitplanke.cli import gathering
from leitplanke.core.policies import Severity
from leitplanke.engine import configuring, loading

NOW = datetime(2025, 6, 1, tzinfo=UTC)
SHARED = Path(__file__).parents[2].parent / "shared"
BOUTIQUE = SHARED / "bench/real/GoogleCloudPlatform__microservices-demo/release/kubernetes-manifests.yaml"
RESOURCE_POLICIES = ("require-container-resources", "require-cpu-limits")


def default_policy_set() -> engine.PolicySet:
    loaded = loading.load_packs(loading.default_packs(), now=NOW)
    assert loaded.problems == []
    return engine.compile(loaded.policies)


def pod(name: str, *containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"containers": list(containers)},
    }


def not_passing(results: list[Any], policies: tuple[str, ...]) -> set[tuple[str, str, str, str, str]]:
    return {
        (r.policy, r.rule, r.verdict.value, r.location.path, r.message)
        for r in results
        if r.policy in policies and r.verdict.value != "pass"
    }


def test_every_built_in_pack_is_either_run_by_default_or_opt_in_never_both() -> None:
    assert set(loading.DEFAULT_PACKS) | set(loading.OPT_IN_PACKS) == set(loading.available_packs())
    assert set(loading.DEFAULT_PACKS) & set(loading.OPT_IN_PACKS) == set()
    assert loading.default_packs() == [
        "capi",
        "hardening",
        "linux",
        "mesh",
        "messaging",
        "proxy",
        "pss-baseline",
        "pss-restricted",
        "reliability",
    ]


def test_a_scan_that_chooses_no_pack_loads_the_default_packs_and_not_observability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no leitplanke.yaml chooses packs either

    gathered = gathering.gather(policy_paths=[], packs=[], waiver_paths=[], config_path=None, now=NOW)
    chosen = gathering.gather(
        policy_paths=[], packs=["observability"], waiver_paths=[], config_path=None, now=NOW
    )

    assert gathered.problems == []
    assert {p.pack for p in gathered.policies} == set(loading.DEFAULT_PACKS)
    assert {p.pack for p in chosen.policies} == {"observability"}


def test_observability_is_never_above_low_and_so_never_fails_a_scan_at_the_default_threshold() -> None:
    policies = loading.load_packs(["observability"], now=NOW).policies

    assert {(p.id, p.severity) for p in policies} == {
        ("require-alerting-rules", Severity.LOW),
        ("require-application-labels", Severity.MEDIUM),
        ("require-metrics-scraping", Severity.LOW),
    }


def test_a_container_without_resources_is_one_finding_across_reliability_and_hardening() -> None:
    policy_set = default_policy_set()

    results = engine.evaluate(policy_set, pod("bare", {"name": "app", "image": "nginx:1.27"}))

    assert not_passing(results, RESOURCE_POLICIES) == {
        (
            "require-container-resources",
            "resources",
            "fail",
            "spec.containers[0]",
            "container app declares no resources: no CPU or memory request and no memory limit "
            "(resources.requests and resources.limits are missing)",
        )
    }


def test_a_container_with_some_resources_gets_each_missing_value_named() -> None:
    policy_set = default_policy_set()
    partial = {"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": "100m"}}}

    results = engine.evaluate(policy_set, pod("partial", partial))

    where = "spec.containers[0].resources"
    assert not_passing(results, RESOURCE_POLICIES) == {
        (
            "require-container-resources",
            "memory-request",
            "fail",
            where,
            "container app has no memory request (resources.requests.memory is missing or zero)",
        ),
        (
            "require-container-resources",
            "memory-limit",
            "fail",
            where,
            "container app has no memory limit (resources.limits.memory is missing or zero)",
        ),
        (
            "require-cpu-limits",
            "cpu-limit",
            "warn",
            where,
            "container app has no CPU limit (resources.limits.cpu is missing or zero)",
        ),
    }


def namespace_verdicts(policies: list[Any], manifest: dict[str, Any]) -> set[tuple[str, str]]:
    results = engine.evaluate(engine.compile(policies), manifest)
    return {(r.rule, r.verdict.value) for r in results if r.policy == "disallow-default-namespace"}


def test_a_manifest_without_a_namespace_passes_and_only_an_explicit_default_fails() -> None:
    policies = loading.load_packs(["hardening"], now=NOW).policies
    unset = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
    explicit = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
    }

    assert namespace_verdicts(policies, unset) == {("not-in-default", "pass"), ("namespace-set", "pass")}
    assert namespace_verdicts(policies, explicit) == {("not-in-default", "fail"), ("namespace-set", "pass")}


def test_require_namespace_set_in_the_config_file_makes_a_missing_namespace_a_warning() -> None:
    policies = loading.load_packs(["hardening"], now=NOW).policies
    config = configuring.Config(
        overrides={"disallow-default-namespace": configuring.Override(params={"requireNamespace": True})}
    )
    configured, problems = configuring.apply_overrides(policies, config)
    unset = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}

    assert problems == []
    assert namespace_verdicts(configured, unset) == {("not-in-default", "pass"), ("namespace-set", "warn")}


# Online Boutique as published: twelve Deployments with their Services and ServiceAccounts,
# all without a namespace; no Prometheus Operator objects, no NetworkPolicies
def boutique_deployments() -> frozenset[str]:
    if not BOUTIQUE.is_file():
        return frozenset()
    documents = yaml.safe_load_all(BOUTIQUE.read_text(encoding="utf-8"))
    return frozenset(d["metadata"]["name"] for d in documents if d and d["kind"] == "Deployment")


ALL = boutique_deployments()
# (policy, rule, verdict) -> the Deployments it reports, each read off the manifest
BOUTIQUE_NOT_PASSING = {
    # every pod runs as UID 1000: below 10000, which the check asks for
    ("require-high-uid", "high-uid", "fail"): ALL,
    # no seccompProfile, no automountServiceAccountToken: false, no imagePullPolicy anywhere;
    # images by tag (only loadgenerator's init container names a digest)
    ("require-seccomp-profile", "seccomp-profile-set", "fail"): ALL,
    ("restrict-pod-token-automount", "token-not-mounted", "fail"): ALL,
    ("require-image-digest", "image-digest", "fail"): ALL,
    ("require-image-pull-policy", "pull-policy-pinned-images", "fail"): ALL,
    ("require-default-deny-network-policy", "default-deny-ingress", "fail"): ALL,
    ("require-default-deny-network-policy", "default-deny-egress", "warn"): ALL,
    # the one container without any resources: loadgenerator's init container frontend-check
    ("require-container-resources", "resources", "fail"): frozenset({"loadgenerator"}),
    ("require-probes", "liveness-probe", "fail"): frozenset({"loadgenerator"}),
    ("require-probes", "readiness-probe", "fail"): frozenset({"loadgenerator"}),
    ("disallow-default-service-account", "own-service-account", "fail"): frozenset({"redis-cart"}),
}


def scan_boutique(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    if not BOUTIQUE.is_file():
        pytest.skip(f"the real-world corpus is not at {BOUTIQUE}")
    done = subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", "scan", str(BOUTIQUE), "-f", "json", "-j", "1", *extra],
        cwd=tmp_path,  # no leitplanke.yaml
        capture_output=True,
        check=False,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


def deployments_by_check(report: dict[str, Any], kind: str) -> dict[tuple[str, str, str], frozenset[str]]:
    found: dict[tuple[str, str, str], set[str]] = {}
    for r in report["results"]:
        if r["verdict"] != "pass" and r["resource"]["kind"] == kind:
            found.setdefault((r["policy"], r["rule"], r["verdict"]), set()).add(r["resource"]["name"])
    return {check: frozenset(names) for check, names in found.items()}


def test_online_boutique_scanned_with_the_defaults_exits_0_and_fails_exactly_what_it_lacks(
    tmp_path: Path,
) -> None:
    code, report = scan_boutique(tmp_path)

    assert code == 0
    assert len(ALL) == 12
    assert deployments_by_check(report, "Deployment") == BOUTIQUE_NOT_PASSING
    not_passing_kinds = {
        (r["resource"]["kind"], r["policy"], r["rule"], r["verdict"])
        for r in report["results"]
        if r["verdict"] != "pass" and r["resource"]["kind"] != "Deployment"
    }
    assert not_passing_kinds == {
        ("ServiceAccount", "restrict-service-account-token-automount", "automount-disabled", "warn"),
        ("Service", "restrict-service-types", "no-load-balancer", "warn"),
    }
    assert report["summary"]["failuresBySeverity"] == {
        "critical": 0,
        "high": 0,
        "medium": 53,
        "low": 26,
        "info": 0,
    }


def test_online_boutique_scanned_with_every_pack_still_exits_0_as_observability_is_low(
    tmp_path: Path,
) -> None:
    every_pack = [arg for name in loading.available_packs() for arg in ("--pack", name)]

    code, report = scan_boutique(tmp_path, *every_pack)

    observability = {
        (r["policy"], r["severity"])
        for r in report["results"]
        if r["verdict"] == "fail" and r["policy"].startswith(("require-metrics", "require-alerting"))
    }
    assert code == 0
    assert observability == {("require-metrics-scraping", "low"), ("require-alerting-rules", "low")}
    assert report["summary"]["failuresBySeverity"]["high"] == 0
