"""``leitplanke scan --pss-version``: the Pod Security Standards version where no Namespace of the scan pins one."""

from __future__ import annotations

from pathlib import Path

import pytest

PODS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
  labels: {pod-security.kubernetes.io/enforce: baseline, pod-security.kubernetes.io/enforce-version: v1.33}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: legacy}
spec:
  containers: [{name: web, image: nginx:1.27, livenessProbe: {httpGet: {host: 10.0.0.1, port: 80}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team}
spec:
  containers: [{name: web, image: nginx:1.27, livenessProbe: {httpGet: {host: 10.0.0.1, port: 80}}}]
"""


@pytest.mark.parametrize(
    ("option", "failing"),
    [
        ((), {"Pod/team/web"}),
        (("--pss-version", "latest"), {"Pod/team/web"}),
        (("--pss-version", "v1.34"), {"Pod/team/web"}),
        (("--pss-version", "v1.33"), set()),
    ],
)
def test_pods_are_judged_by_their_namespaces_pin_else_by_the_scans_version(
    run_cli, tmp_path: Path, option: tuple[str, ...], failing: set[str]
) -> None:
    (tmp_path / "manifests.yaml").write_text(PODS)
    args = (
        "scan",
        "manifests.yaml",
        "--pack",
        "pss-baseline",
        "--fail-on",
        "medium",
        "-j",
        "1",
        "-f",
        "json",
    )
    run = run_cli(*args, *option)
    assert run.code == (1 if failing else 0), run
    assert {(p, rule, r) for (p, rule, r, verdict) in run.verdicts() if verdict == "fail"} == {
        ("disallow-probe-and-lifecycle-hosts", "no-probe-host", resource) for resource in failing
    }


def test_a_version_that_does_not_parse_is_a_usage_error(run_cli, tmp_path: Path) -> None:
    (tmp_path / "manifests.yaml").write_text(PODS)
    run = run_cli("scan", "manifests.yaml", "--pack", "pss-baseline", "--pss-version", "1.30")
    assert run.code == 2, run
    assert run.stderr_lines == ["leitplanke: --pss-version '1.30': use latest or v1.N, such as v1.30"]
