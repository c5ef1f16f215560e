"""Kustomize directories (``kubectl kustomize``) and Helm charts (helm-python-sdk) as sources."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from leitplanke.core.documents import Document
from leitplanke.core.problems import Problem
from leitplanke.sources import files, helm, kustomize

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    write(
        tmp_path / "base" / "deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - name: app\n        image: nginx:1.25\n",
    )
    write(tmp_path / "base" / "kustomization.yaml", "resources:\n- deployment.yaml\n")
    write(
        tmp_path / "prod" / "kustomization.yaml",
        "resources:\n- ../base\nnamePrefix: prod-\nnamespace: shop\n"
        "images:\n- name: nginx\n  newTag: '1.27'\n",
    )
    write(tmp_path / "prod" / "service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: not-listed}\n")
    return tmp_path


@needs_kubectl
def test_a_kustomize_directory_is_one_rendered_source(overlay: Path) -> None:
    assert list(files.iter_sources([str(overlay)])) == [
        files.Source("kustomize", str(overlay / "base")),
        files.Source("kustomize", str(overlay / "prod")),
    ]
    found = list(files.load_source(files.Source("kustomize", str(overlay / "prod"))))
    (doc,) = found
    assert isinstance(doc, Document)
    assert doc.body == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "prod-web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"image": "nginx:1.27", "name": "app"}]}}},
    }
    origin = doc.origin
    assert (origin.file, origin.index, origin.line) == (str(overlay / "prod" / "kustomization.yaml"), 0, 1)
    # lines of kubectl's output, where keys are sorted
    assert origin.lines["spec.template.spec.containers[0].image"] == 10


@needs_kubectl
def test_a_kustomization_that_fails_is_a_problem_with_kubectl_s_message(tmp_path: Path) -> None:
    write(tmp_path / "kustomization.yaml", "resources:\n- missing.yaml\n")
    (problem,) = kustomize.load_kustomization(str(tmp_path))
    assert isinstance(problem, Problem)
    kustomization = str(tmp_path / "kustomization.yaml")
    assert (problem.file, problem.line, problem.code) == (kustomization, 0, "kustomize-failed")
    assert problem.message.startswith("kubectl kustomize exited with 1: ")
    assert "missing.yaml" in problem.message


def test_a_missing_kubectl_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path / "Kustomization", "resources: []\n")
    assert list(kustomize.load_kustomization(str(tmp_path), kubectl="no-such-kubectl")) == [
        Problem(
            str(tmp_path / "Kustomization"),
            0,
            "kustomize-failed",
            "'no-such-kubectl' was not found on PATH; it renders Kustomize directories",
        )
    ]


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    root = tmp_path / "web-chart"
    write(root / "Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
    write(
        root / "values.yaml",
        "replicas: 1\nimage: {repository: nginx, tag: '1.25'}\nservice: {enabled: false}\n",
    )
    write(
        root / "templates" / "deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n"
        "  namespace: {{ .Release.Namespace }}\nspec:\n  replicas: {{ .Values.replicas }}\n"
        "  template:\n    spec:\n      containers:\n      - name: web\n"
        '        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
    )
    write(
        root / "templates" / "service.yaml",
        "{{- if .Values.service.enabled }}\napiVersion: v1\nkind: Service\nmetadata:\n"
        "  name: {{ .Release.Name }}-web\n{{- end }}\n",
    )
    write(root / "templates" / "_helpers.tpl", '{{- define "web.name" -}}web{{- end -}}\n')
    write(root / "templates" / "NOTES.txt", "Thank you for installing {{ .Chart.Name }}.\n")
    return root


def test_a_helm_chart_is_one_source_rendered_with_its_default_values(chart: Path) -> None:
    assert list(files.iter_sources([str(chart.parent)])) == [files.Source("helm", str(chart))]
    (doc,) = files.load_source(files.Source("helm", str(chart)))
    assert isinstance(doc, Document)
    assert doc.body == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "release-web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}},
        },
    }
    template = str(chart / "templates" / "deployment.yaml")
    assert (doc.origin.file, doc.origin.index, doc.origin.line) == (template, 0, 1)
    assert doc.origin.lines["spec.template.spec.containers[0].image"] == 12


def test_helm_values_files_and_set_apply_in_order(chart: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    write(first, "replicas: 2\nimage: {tag: '1.26'}\nservice: {enabled: true}\n")
    second = tmp_path / "second.yaml"
    write(second, "replicas: 3\n")
    found = list(
        files.load_source(
            files.Source("helm", str(chart)),
            helm_values=[str(first), str(second)],
            helm_set=["image.tag=1.27"],
        )
    )
    assert [(doc.kind, doc.origin.file) for doc in found if isinstance(doc, Document)] == [
        ("Deployment", str(chart / "templates" / "deployment.yaml")),
        ("Service", str(chart / "templates" / "service.yaml")),
    ]
    deployment = found[0]
    assert isinstance(deployment, Document)
    assert deployment.body["spec"]["replicas"] == 3
    assert deployment.body["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_a_chart_that_does_not_render_is_a_problem(chart: Path) -> None:
    write(chart / "templates" / "broken.yaml", "metadata: {{ .Values.missing.deeper }}\n")
    (problem,) = helm.load_chart(str(chart))
    assert isinstance(problem, Problem)
    assert (problem.file, problem.code) == (str(chart / "Chart.yaml"), "helm-failed")
    assert "broken.yaml" in problem.message


def test_bad_helm_values_are_problems(chart: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    write(broken, "replicas: [1\n")
    found = list(helm.load_chart(str(chart), values_files=[missing, str(broken)], set_values=["a[x]=1"]))
    assert found == [
        Problem(missing, 0, "unreadable", "No such file or directory"),
        Problem(
            str(broken),
            0,
            "helm-values",
            "error converting YAML to JSON: yaml: line 1: did not find expected ',' or ']'",
        ),
        Problem(
            str(chart / "Chart.yaml"),
            0,
            "helm-values",
            '--set a[x]=1: error parsing index: strconv.Atoi: parsing "x": invalid syntax',
        ),
    ]


def test_without_the_helm_extra_a_chart_is_a_problem(chart: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "helm_python", None)  # makes `import helm_python` fail
    (problem,) = helm.load_chart(str(chart))
    assert isinstance(problem, Problem)
    assert (problem.file, problem.code) == (str(chart / "Chart.yaml"), "helm-unavailable")
    assert problem.message.startswith(
        "rendering Helm charts needs the helm extra (pip install 'leitplanke[helm]')"
    )
