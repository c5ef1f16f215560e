"""A small, realistic scan to render, and golden-file comparison for the renderers' tests.

Golden files are rewritten only with ``LEITPLANKE_REGENERATE_GOLDEN=1``; otherwise compared byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leitplanke.core.documents import SkippedInput
from leitplanke.core.policies import Fix, Match, Policy, Rule, Severity
from leitplanke.core.problems import Problem
from leitplanke.core.results import Location, Resource, Result, ScanReport, Verdict

GOLDEN = Path(__file__).parent / "golden"
SHARED_SCHEMAS = Path(__file__).parents[2].parent / "shared" / "schemas"
NOW = datetime(2025, 3, 14, 9, 26, 53, 250000, tzinfo=UTC)

WEB = Resource("apps/v1", "Deployment", "shop", "web")
NIGHTLY = Resource("batch/v1", "CronJob", "batch", "nightly-report")
CI_ADMIN = Resource("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "ci-admin")
DEBUG = Resource("v1", "Pod", "", "debug")

PRIVILEGED_FIX = Fix(merge={"securityContext": {"privileged": False}})


def build_policies() -> dict[str, Policy]:
    policies = [
        Policy(
            id="disallow-privileged",
            title="Privileged containers are not allowed",
            severity=Severity.CRITICAL,
            category="Pod Security",
            controls=("PSS:baseline/privileged", "CIS-K8s:5.2.2"),
            description="Privileged containers share the host's kernel capabilities and devices.",
            remediation="Remove securityContext.privileged or set it to false.",
            match=Match(kinds=("Pod",)),
            rules=(
                Rule("no-privileged-containers", "!item.?securityContext.?privileged", fix=PRIVILEGED_FIX),
            ),
        ),
        Policy(
            id="require-resource-limits",
            title="Containers declare memory limits",
            severity=Severity.MEDIUM,
            category="Reliability",
            controls=("leitplanke:reliability/limits",),
            description="A container without a memory limit can starve its node.",
            remediation="Set resources.limits.memory on every container.",
            rules=(Rule("memory-limits", "has(item.resources.limits.memory)"),),
        ),
        Policy(
            id="disallow-latest-tag",
            title="Images are pinned",
            severity=Severity.LOW,
            category="Supply Chain",
            rules=(Rule("no-latest-tag", "!item.image.endsWith(':latest')", verdict_on_fail="warn"),),
        ),
        Policy(
            id="restrict-cluster-admin",
            title="Nobody is bound to cluster-admin",
            severity=Severity.HIGH,
            category="RBAC",
            controls=("CIS-K8s:5.1.1",),
            description="cluster-admin grants every permission on every resource.",
            rules=(Rule("no-cluster-admin-binding", "object.roleRef.name != 'cluster-admin'"),),
        ),
        Policy(
            id="require-probes",
            title="Serving containers have probes",
            severity=Severity.INFO,
            category="Reliability",
            rules=(Rule("liveness-probe", "has(item.livenessProbe)"),),
        ),
    ]
    return {policy.id: policy for policy in policies}


def _result(
    policy: str,
    rule: str,
    resource: Resource,
    verdict: Verdict,
    at: Location,
    message: str = "",
    *,
    fix: dict[str, Any] | None = None,
    waiver: str = "",
) -> Result:
    known = build_policies()[policy]
    return Result(
        policy=policy,
        rule=rule,
        resource=resource,
        verdict=verdict,
        severity=known.severity,
        message=message,
        location=at,
        fix=fix,
        waiver=waiver,
        category=known.category,
        controls=known.controls,
    )


def build_report() -> ScanReport:
    web, nightly, rbac = "manifests/shop/web.yaml", "manifests/batch/nightly.yaml", "manifests/rbac.yaml"
    container = "spec.template.spec.containers[0]"
    job_container = "spec.jobTemplate.spec.template.spec.containers[0]"
    fix = {"path": container, "merge": {"securityContext": {"privileged": False}}, "remove": []}
    results = [
        _result(
            "disallow-privileged",
            "no-privileged-containers",
            WEB,
            Verdict.FAIL,
            Location(web, 24, f"{container}.securityContext", 0),
            "container 'web' is privileged",
            fix=fix,
        ),
        _result(
            "require-resource-limits", "memory-limits", WEB, Verdict.PASS, Location(web, 19, container, 0)
        ),
        _result(
            "disallow-latest-tag",
            "no-latest-tag",
            WEB,
            Verdict.WARN,
            Location(web, 20, f"{container}.image", 0),
            "image 'shop/web:latest' is not pinned",
        ),
        _result(
            "require-probes",
            "liveness-probe",
            WEB,
            Verdict.ERROR,
            Location(web, 19, container, 0),
            "no such key: livenessProbe",
        ),
        _result(
            "disallow-privileged",
            "no-privileged-containers",
            NIGHTLY,
            # as the engine leaves a waived failure: skip, naming the waiver in the message
            Verdict.SKIP,
            Location(nightly, 15, f"{job_container}.securityContext", 0),
            "container 'report' is privileged (waived by legacy-batch-jobs: moves to restricted pods in Q3)",
            waiver="legacy-batch-jobs",
        ),
        _result(
            "require-resource-limits",
            "memory-limits",
            NIGHTLY,
            Verdict.FAIL,
            Location(nightly, 12, job_container, 0),
            "container 'report' has no memory limit",
        ),
        _result(
            "require-probes",
            "liveness-probe",
            NIGHTLY,
            Verdict.SKIP,
            Location(nightly, 12, job_container, 0),
            "jobs do not serve traffic",
        ),
        _result(
            "restrict-cluster-admin",
            "no-cluster-admin-binding",
            CI_ADMIN,
            Verdict.FAIL,
            Location(rbac, 9, "roleRef.name", 1),
            "ClusterRoleBinding 'ci-admin' grants cluster-admin",
        ),
        _result(
            "disallow-privileged",
            "no-privileged-containers",
            DEBUG,
            Verdict.PASS,
            Location("<stdin>", 7, "spec.containers[0]", 0),
        ),
        _result(
            "disallow-latest-tag",
            "no-latest-tag",
            DEBUG,
            Verdict.PASS,
            Location("<stdin>", 8, "spec.containers[0].image", 0),
        ),
    ]
    problems = [
        Problem(
            "manifests/shop/broken.yaml", 3, "yaml.syntax", "mapping values are not allowed here", column=9
        )
    ]
    skipped = [SkippedInput("manifests/shop/kustomization.yaml", 0, 1, "not-kubernetes")]
    # results arrive out of order on purpose: renderers sort
    return ScanReport(
        results=results[::-1], problems=problems, skipped=skipped, documents=5, evaluations=10, policies=5
    )


@pytest.fixture
def report() -> ScanReport:
    return build_report()


@pytest.fixture
def policies() -> dict[str, Policy]:
    return build_policies()


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """``golden(name, text)`` asserts ``text`` equals ``golden/name``, or rewrites it on request."""

    def compare(name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("LEITPLANKE_REGENERATE_GOLDEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        if not path.exists():
            pytest.fail(f"{path} is missing; run with LEITPLANKE_REGENERATE_GOLDEN=1 to write it")
        assert text == path.read_bytes().decode("utf-8"), f"{name} differs from its golden file"

    return compare


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def shared_schema() -> Callable[[str], Path]:
    """``shared_schema(name)``: a schema from ../shared/schemas, or a skip saying where it was looked for."""

    def find(name: str) -> Path:
        path = SHARED_SCHEMAS / name
        if not path.exists():
            pytest.skip(
                f"official schema {name} not found in {SHARED_SCHEMAS}; the shared data is not checked out"
            )
        return path

    return find
