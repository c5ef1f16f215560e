"""Rendered sources through ``leitplanke scan``: a Kustomize overlay (kubectl) and a Helm chart (helm extra)."""

from __future__ import annotations

import shutil

import pytest

BASELINE = ("--pack", "pss-baseline", "-j", "1")
RAN = "leitplanke: 12 policies: 12 from packs pss-baseline"  # the note of what ran, on stderr
PRIVILEGED = (
    "disallow-privileged-containers",
    "no-privileged-containers",
    "Deployment/release-web",
    "chart/templates/deployment.yaml",
    16,
    "spec.template.spec.containers[0].securityContext.privileged",
)


@pytest.fixture
def kustomize(write):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl renders Kustomize directories and is not on PATH")
    write("kz/base/kustomization.yaml", "resources: [pod.yaml]\n")
    write(
        "kz/base/pod.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
        spec:
          containers:
          - name: web
            image: nginx:1.27
        """,
    )
    write(
        "kz/overlay/kustomization.yaml",
        """
        namespace: shop
        resources: [../base]
        patches:
        - target: {kind: Pod, name: web}
          patch: |-
            - op: add
              path: /spec/hostNetwork
              value: true
        """,
    )


@pytest.fixture
def chart(write):
    pytest.importorskip("helm_python", reason="Helm charts render with the helm extra")
    write("chart/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    write("chart/values.yaml", "privileged: false\nimage: nginx:1.27\n")
    write(
        "chart/templates/deployment.yaml",
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}-web
        spec:
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
              - name: web
                image: {{ .Values.image }}
                securityContext:
                  privileged: {{ .Values.privileged }}
        """,
    )
    write("chart/templates/NOTES.txt", "Thank you for installing {{ .Chart.Name }}.\n")


def test_a_kustomize_overlay_is_rendered_and_its_results_point_at_its_kustomization(
    run_cli, kustomize, baseline_rules
):
    run = run_cli("scan", "kz", "-f", "json", *BASELINE)

    assert run.code == 1, run
    # the line is that of kubectl's output, where the patch put hostNetwork
    assert run.findings("fail") == {
        (
            "disallow-host-namespaces",
            "no-host-network",
            "Pod/shop/web",
            "kz/overlay/kustomization.yaml",
            10,
            "spec.hostNetwork",
        )
    }
    # the base is rendered on its own too, and passes
    base = {(p, r, resource, v) for p, r, resource, v in run.verdicts() if resource == "Pod/web"}
    assert base == {(policy, rule, "Pod/web", "pass") for policy, rule in baseline_rules}


def test_a_kustomization_kubectl_cannot_render_is_a_problem_and_the_rest_is_scanned(
    run_cli, write, kustomize
):
    write("kz/broken/kustomization.yaml", "resources: [missing.yaml]\n")

    run = run_cli("scan", "kz", "-f", "json", *BASELINE)

    assert run.code == 1, run
    (problem,) = run.json()["problems"]
    assert (problem["file"], problem["line"], problem["code"]) == (
        "kz/broken/kustomization.yaml",
        0,
        "kustomize-failed",
    )
    assert problem["message"].startswith("kubectl kustomize exited with 1: ")
    assert "missing.yaml" in problem["message"]
    assert {resource for _, _, resource, _ in run.verdicts()} == {"Pod/web", "Pod/shop/web"}


def test_a_helm_chart_renders_with_its_default_values(run_cli, chart, baseline_rules):
    run = run_cli("scan", "chart", "-f", "json", *BASELINE)

    assert run.code == 0, run
    assert run.verdicts() == {
        (policy, rule, "Deployment/release-web", "pass") for policy, rule in baseline_rules
    }
    assert run.json()["skipped"] == []  # NOTES.txt is not a manifest


@pytest.mark.parametrize(
    "values",
    [("--values", "prod.yaml"), ("--set", "privileged=true")],
    ids=["values-file", "set"],
)
def test_values_and_set_reach_the_chart_and_their_result_points_at_the_template(
    run_cli, write, chart, values
):
    write("prod.yaml", "privileged: true\n")

    run = run_cli("scan", "chart", *values, "-f", "json", *BASELINE)

    assert run.code == 1, run
    assert run.findings("fail") == {PRIVILEGED}


def test_set_wins_over_a_values_file_as_in_helm(run_cli, write, chart):
    write("prod.yaml", "privileged: true\n")

    run = run_cli("scan", "chart", "--values", "prod.yaml", "--set", "privileged=false", *BASELINE)

    assert run.code == 0, run


def test_a_values_file_that_does_not_exist_is_a_problem_of_the_chart(run_cli, chart):
    run = run_cli("scan", "chart", "--values", "nowhere.yaml", "-f", "json", *BASELINE)

    assert run.code == 1, run
    assert run.stderr_lines == [RAN, "nowhere.yaml: error unreadable: No such file or directory"]
    assert run.json()["results"] == []
