"""Which version of the Pod Security Standards a pod is judged by: the Namespace's pin, else the default.

As Pod Security admission reads it: ``pod-security.kubernetes.io/<mode>-version`` on the Namespace
(``latest`` or ``v1.N``), from the engine API's ``Context.namespace_object``, from a Namespace in
the scanned set, from a Namespace among a policy test's resources; ``Context.pss_version`` (the
scan's ``--pss-version``) where none pins one; and Kyverno's ``podSecurity.version``.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from leitplanke import engine
from leitplanke.core import documents
from leitplanke.core.documents import Document, Origin
from leitplanke.core.results import Verdict
from leitplanke.engine import loading, pssversions
from leitplanke.sources import files

NOW = datetime(2025, 6, 1, tzinfo=UTC)
PROBE_HOST = ("disallow-probe-and-lifecycle-hosts", "no-probe-host")  # a baseline check since v1.34


@cache
def baseline() -> engine.PolicySet:
    return engine.compile(loading.load_packs(["pss-baseline"], now=NOW).policies)


def probing_pod(namespace: str = "team", name: str = "web") -> dict[str, Any]:
    probe = {"httpGet": {"host": "10.0.0.1", "port": 8080}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "livenessProbe": probe}]},
    }


def namespace(name: str = "team", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def failing(context: engine.Context) -> set[tuple[str, str]]:
    results = engine.evaluate(baseline(), probing_pod(), context=context)
    return {(r.policy, r.rule) for r in results if r.verdict is Verdict.FAIL}


ENFORCE, AUDIT, WARN = (f"pod-security.kubernetes.io/{mode}-version" for mode in ("enforce", "audit", "warn"))


@pytest.mark.parametrize(
    ("labels", "default", "expected"),
    [
        ({}, "", {PROBE_HOST}),
        ({}, "v1.33", set()),
        ({ENFORCE: "v1.33"}, "", set()),
        ({ENFORCE: "v1.34"}, "v1.33", {PROBE_HOST}),
        ({ENFORCE: "latest"}, "v1.33", {PROBE_HOST}),
        ({AUDIT: "v1.33"}, "", set()),
        ({WARN: "v1.33"}, "", set()),
        ({ENFORCE: "latest", AUDIT: "v1.33", WARN: "v1.33"}, "", {PROBE_HOST}),
        ({AUDIT: "latest", WARN: "v1.33"}, "", {PROBE_HOST}),
        ({ENFORCE: "v2.0"}, "v1.33", {PROBE_HOST}),  # admission reads a value it cannot parse as latest
        ({"pod-security.kubernetes.io/enforce": "baseline"}, "v1.33", set()),  # a level pins no version
    ],
)
def test_the_namespaces_version_label_pins_the_standard_else_the_default_applies(
    labels: dict[str, str], default: str, expected: set[tuple[str, str]]
) -> None:
    context = engine.Context(namespace_object=namespace(**labels), pss_version=default)
    assert failing(context) == expected


@pytest.mark.parametrize(
    ("text", "minor"), [("latest", 37), ("v1.0", 0), ("v1.25", 25), ("v1.37", 37), ("v1.40", 37)]
)
def test_versions_parse_as_admission_reads_them(text: str, minor: int) -> None:
    assert pssversions.parse_version(text) == minor


@pytest.mark.parametrize("text", ["", "1.25", "v1.025", "v2.1", "v1.x", "Latest"])
def test_other_version_texts_do_not_parse(text: str) -> None:
    assert pssversions.parse_version(text) is None


def test_a_scan_judges_pods_by_the_version_their_namespace_in_the_scanned_set_pins() -> None:
    items = [
        Document(body=body, origin=Origin(file="all.yaml", index=index))
        for index, body in enumerate(
            [
                namespace("legacy", **{ENFORCE: "v1.33"}),
                probing_pod("legacy"),
                probing_pod("team"),
                probing_pod("unknown"),
            ]
        )
    ]
    sink = engine.Collected()
    engine.scan(
        baseline(),
        [items],
        sink,
        load=lambda batch: batch,
        now=NOW,
        jobs=1,
        namespaces=documents.namespace_objects(items),
        context=engine.Context(pss_version="v1.34"),
    )
    failed = {
        (r.resource.namespace, r.resource.name, r.rule) for r in sink.results if r.verdict is Verdict.FAIL
    }
    assert failed == {("team", "web", "no-probe-host"), ("unknown", "web", "no-probe-host")}


def test_a_namespace_the_caller_names_wins_over_the_scanned_sets() -> None:
    items = [Document(body=probing_pod("legacy"), origin=Origin(file="pod.yaml"))]
    sink = engine.Collected()
    engine.scan(
        baseline(),
        [items],
        sink,
        load=lambda batch: batch,
        now=NOW,
        jobs=1,
        namespaces={"legacy": namespace("legacy", **{ENFORCE: "v1.33"})},
        context=engine.Context(namespace_object=namespace("legacy", **{ENFORCE: "latest"})),
    )
    assert {(r.rule, r.verdict) for r in sink.results if r.policy == PROBE_HOST[0]} == {
        ("no-probe-host", Verdict.FAIL),
        ("no-lifecycle-host", Verdict.PASS),
    }


def test_the_first_pass_finds_the_namespaces_of_plain_files_only(tmp_path: Path) -> None:
    (tmp_path / "namespaces.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: Namespace
            metadata: {name: legacy, labels: {pod-security.kubernetes.io/enforce-version: v1.33}}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, namespace: legacy}
            """
        )
    )
    (tmp_path / "more.json").write_text(
        '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}'
    )
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: legacy}\n"
    )
    found = files.namespace_objects(list(files.iter_sources([str(tmp_path)])))
    assert found == {
        "legacy": namespace("legacy", **{ENFORCE: "v1.33"}),
        "team": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
    }


KYVERNO = """\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {{name: psa-{name}}}
spec:
  validationFailureAction: Enforce
  rules:
  - name: baseline
    match: {{any: [{{resources: {{kinds: [Pod]}}}}]}}
    validate:
      podSecurity: {{level: baseline{version}}}
"""


@pytest.mark.parametrize(
    ("version", "verdict"), [("", "fail"), ("latest", "fail"), ("v1.34", "fail"), ("v1.33", "pass")]
)
def test_kyverno_pod_security_rules_judge_by_their_version_of_the_standard(
    version: str, verdict: str
) -> None:
    text = KYVERNO.format(
        name=version.replace(".", "-") or "default", version=f", version: {version}" if version else ""
    )
    loaded = loading.load_text(text, file="psa.yaml", now=NOW)
    assert loaded.problems == []
    policy_set = engine.compile([], options=engine.CompileOptions(foreign=tuple(loaded.foreign)))
    results = engine.evaluate(policy_set, probing_pod())
    assert [(r.rule, r.verdict.value) for r in results] == [("baseline", verdict)]
