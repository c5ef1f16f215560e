"""The document program: every per-document rule of a document in one runtime call, with the
same results as evaluating rule by rule."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
import yaml

from leitplanke.core import problems
from leitplanke.core.documents import Document, Origin
from leitplanke.core.results import Result
from leitplanke.engine import cel, compiling, evaluating, joining, loading

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

POLICIES = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: containers}
spec:
  title: Containers are configured
  severity: high
  match: {podSpec: true}
  params: {prefix: "registry.example.com/", minimum: 2}
  rules:
  - name: registry
    forEach: podSpec.containers + podSpec.?initContainers.orValue([])
    validate: item.image.startsWith(params.prefix)
    # separators and digits in messages: the program's own tokens must not be confused by them
    message: "'f3:p; ' + item.name + ' → ' + item.image + ';'"
    path: item.image
  - name: no-message
    forEach: podSpec.containers
    validate: has(item.resources)
  - name: init-only
    forEach: podSpec.?initContainers.orValue([])
    validate: "false"
    message: "''"
  - name: replicas
    validate: object.kind == 'Pod' || object.spec.?replicas.orValue(1) >= params.minimum
    message: "'replicas: ' + string(object.spec.?replicas.orValue(1))"
    path: spec.replicas
---
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: labelled}
spec:
  title: Workloads carry a team label
  severity: low
  match:
    kinds: [Deployment, Pod]
    condition: object.metadata.?labels.?skip.orValue('') != 'yes'
  rules:
  - name: team
    validate: "'team' in object.metadata.?labels.orValue({})"
  - name: stale-bind
    # a bind after a comprehension that stopped early: the runtime's own lazy bind reads a
    # stale value here and the rule fails (see cel.sourcetext.eager_binds)
    validate: "[1, 2, 3].exists(z, z == 1) && cel.bind(y, 5, y) == 5"
  - name: number-message
    validate: object.metadata.name != 'numbered'
    # an int at runtime only (a message typed int fails the check: its policy would not join)
    message: object.spec.?replicas.orValue(7)
---
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: fragile}
spec:
  title: A rule that fails at runtime on some documents
  severity: medium
  match: {kinds: [Deployment]}
  rules:
  - name: strategy
    validate: object.spec.strategy.type == 'RollingUpdate'
"""

DOCUMENTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {team: a}}
spec:
  replicas: 3
  strategy: {type: Recreate}
  template:
    spec:
      initContainers:
      - {name: setup, image: "docker.io/busybox:1"}
      containers:
      - {name: app, image: "registry.example.com/web:1", resources: {}}
      - {name: proxy, image: "docker.io/envoy:1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: numbered, labels: {skip: "yes"}}
spec:
  template:
    spec:
      containers:
      - {name: app, image: "registry.example.com/api:2"}
---
apiVersion: v1
kind: Pod
metadata: {name: lone}
spec:
  containers:
  - {name: main, image: "quay.io/x:1", resources: {limits: {cpu: 1}}}
---
apiVersion: v1
kind: Pod
metadata: {name: numbered, labels: {team: b}}
spec:
  containers: []
"""


def _compiled() -> compiling.CompiledSet:
    loaded = loading.load_text(POLICIES, file="p.yaml", now=NOW)
    assert loaded.problems == []
    compiled, problems = compiling.compile_policies(loaded.policies)
    assert problems == []
    return compiled


def _documents() -> list[Document]:
    bodies = [body for body in yaml.safe_load_all(DOCUMENTS) if body]
    return [
        Document(body=body, origin=Origin(file="d.yaml", index=i, line=1)) for i, body in enumerate(bodies)
    ]


def _results(compiled: compiling.CompiledSet, *, reference: bool = False) -> tuple[list[Result], int]:
    results: list[Result] = []
    evaluations = 0
    for doc in _documents():
        outcome = evaluating.evaluate_document(compiled, doc, reference=reference)
        results.extend(outcome.results)
        evaluations += outcome.evaluations
    return sorted(results, key=Result.sort_key), evaluations


def _rows(results: list[Result]) -> list[tuple[str, str, str, str, str, str]]:
    return [(r.resource.name, r.policy, r.rule, r.verdict.value, r.message, r.location.path) for r in results]


def test_every_policy_joins_the_document_program() -> None:
    compiled = _compiled()
    assert [(chunk.start, chunk.end) for chunk in compiled.document_chunks] == [(0, 3)]
    assert dict(compiled.document_slots) == {"containers": 0, "labelled": 1, "fragile": 2}


def test_a_document_program_too_long_to_parse_is_cut_into_chunks_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = _compiled()
    monkeypatch.setattr(joining, "CHUNK_TEXT", 1)  # a chunk per policy
    chunked = _compiled()
    assert [(chunk.start, chunk.end) for chunk in chunked.document_chunks] == [(0, 1), (1, 2), (2, 3)]
    assert dict(chunked.document_slots) == {"containers": 0, "labelled": 1, "fragile": 2}
    assert _results(chunked) == _results(whole) == _results(whole, reference=True)


def test_the_document_program_gives_the_results_of_rule_by_rule_evaluation() -> None:
    compiled = _compiled()
    joined, joined_evaluations = _results(compiled)
    one_by_one, evaluations = _results(compiled, reference=True)
    assert joined == one_by_one
    assert joined_evaluations == evaluations == 34
    assert _rows(joined) == [
        # an empty forEach message gives the title, as rule by rule
        (
            "web",
            "containers",
            "init-only",
            "fail",
            "Containers are configured",
            "spec.template.spec.initContainers[0]",
        ),
        (
            "web",
            "containers",
            "no-message",
            "fail",
            "Containers are configured",
            "spec.template.spec.containers[1]",
        ),
        (
            "web",
            "containers",
            "registry",
            "fail",
            "f3:p; proxy → docker.io/envoy:1;",
            "spec.template.spec.containers[1].image",
        ),
        (
            "web",
            "containers",
            "registry",
            "fail",
            "f3:p; setup → docker.io/busybox:1;",
            "spec.template.spec.initContainers[0].image",
        ),
        ("web", "containers", "replicas", "pass", "", "spec.replicas"),
        ("web", "fragile", "strategy", "fail", "A rule that fails at runtime on some documents", ""),
        ("web", "labelled", "number-message", "pass", "", ""),
        ("web", "labelled", "stale-bind", "pass", "", ""),
        ("web", "labelled", "team", "pass", "", ""),
        # the Deployment without a strategy breaks the program: its rules are evaluated one by one
        ("numbered", "containers", "init-only", "pass", "", ""),
        (
            "numbered",
            "containers",
            "no-message",
            "fail",
            "Containers are configured",
            "spec.template.spec.containers[0]",
        ),
        ("numbered", "containers", "registry", "pass", "", ""),
        ("numbered", "containers", "replicas", "fail", "replicas: 1", "spec.replicas"),
        ("numbered", "fragile", "strategy", "error", 'NOT_FOUND: Key not found in map : "strategy"', ""),
        ("lone", "containers", "init-only", "pass", "", ""),
        ("lone", "containers", "no-message", "pass", "", ""),
        ("lone", "containers", "registry", "fail", "f3:p; main → quay.io/x:1;", "spec.containers[0].image"),
        ("lone", "containers", "replicas", "pass", "", "spec.replicas"),
        ("lone", "labelled", "number-message", "pass", "", ""),
        ("lone", "labelled", "stale-bind", "pass", "", ""),
        ("lone", "labelled", "team", "fail", "Workloads carry a team label", ""),
        ("numbered", "containers", "init-only", "pass", "", ""),
        ("numbered", "containers", "no-message", "pass", "", ""),
        # no container: the rule's path below its item names the document
        ("numbered", "containers", "registry", "pass", "", ""),
        ("numbered", "containers", "replicas", "pass", "", "spec.replicas"),
        # a message that is an int breaks the program too: rule by rule it becomes text
        ("numbered", "labelled", "number-message", "fail", "7", ""),
        ("numbered", "labelled", "stale-bind", "pass", "", ""),
        ("numbered", "labelled", "team", "pass", "", ""),
    ]


def test_a_policy_that_cannot_join_is_evaluated_rule_by_rule() -> None:
    text = POLICIES + (
        "---\napiVersion: leitplanke.dev/v1\nkind: Policy\nmetadata: {name: typed}\n"
        "spec:\n  title: t\n  severity: low\n  match: {kinds: [Pod]}\n"
        "  rules:\n  - name: not-a-bool\n    validate: \"'yes'\"\n"
        "---\napiVersion: leitplanke.dev/v1\nkind: Policy\nmetadata: {name: field-named-bind}\n"
        "spec:\n  title: b\n  severity: low\n  match: {kinds: [Pod]}\n"
        '  rules:\n  - name: bind\n    validate: "object.?bind.orValue(0) == 0"\n'
    )
    loaded = loading.load_text(text, file="p.yaml", now=NOW)
    compiled, problems = compiling.compile_policies(loaded.policies)
    assert problems == []
    assert dict(compiled.document_slots) == {"containers": 0, "labelled": 1, "fragile": 2}
    results, _ = _results(compiled)
    extra = [
        (r.resource.name, r.policy, r.verdict.value, r.message)
        for r in results
        if r.policy in {"typed", "field-named-bind"}
    ]
    assert extra == [
        ("lone", "field-named-bind", "pass", ""),
        ("lone", "typed", "error", "expected bool, got string"),
        ("numbered", "field-named-bind", "pass", ""),
        ("numbered", "typed", "error", "expected bool, got string"),
    ]


SHAPES = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, labels: {team: c}}
spec:
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: nightly}}
        spec:
          containers:
          - {name: job, image: "docker.io/job:1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: odd, labels: {team: d}}
spec:
  strategy: {type: RollingUpdate}
  template:
    metadata: not a mapping
    spec:
      containers:
      - {name: app, image: "registry.example.com/odd:1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bare}
spec:
  strategy: {type: RollingUpdate}
  template:
    spec:
      containers:
      - {name: app, image: "registry.example.com/bare:1", resources: {}}
"""

POD_META = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: pod-labels}
spec:
  title: Pods carry an app label
  severity: low
  match: {podSpec: true}
  rules:
  - name: app
    validate: "'app' in podMeta"
    message: "'pod of ' + object.metadata.name + ' has labels ' + string(podMeta.?labels.orValue({}).size())"
"""


def test_the_pod_spec_is_selected_from_the_object_as_evaluation_rule_by_rule_finds_it() -> None:
    loaded = loading.load_text(POLICIES + "---\n" + POD_META, file="p.yaml", now=NOW)
    compiled, problems = compiling.compile_policies(loaded.policies)
    assert problems == []
    bodies = [body for body in yaml.safe_load_all(SHAPES) if body]
    docs = [
        Document(body=body, origin=Origin(file="s.yaml", index=i, line=1)) for i, body in enumerate(bodies)
    ]
    # a CronJob's pod spec is the third shape; metadata that is not a mapping leaves it to podMeta
    assert [evaluating.build_subject(doc).pod_shape for doc in docs] == [3, 0, 2]

    def results(*, reference: bool = False) -> list[tuple[str, str, str, str, str]]:
        found = [
            r
            for doc in docs
            for r in evaluating.evaluate_document(compiled, doc, reference=reference).results
        ]
        return [
            (r.resource.name, r.rule, r.verdict.value, r.message, r.location.path)
            for r in sorted(found, key=Result.sort_key)
        ]

    joined = results()
    assert joined == results(reference=True)
    assert [row for row in joined if row[1] in {"app", "registry", "replicas"}] == [
        (
            "nightly",
            "registry",
            "fail",
            "f3:p; job → docker.io/job:1;",
            "spec.jobTemplate.spec.template.spec.containers[0].image",
        ),
        ("nightly", "replicas", "fail", "replicas: 1", "spec.replicas"),
        ("nightly", "app", "fail", "pod of nightly has labels 1", ""),
        ("odd", "registry", "pass", "", ""),
        ("odd", "replicas", "fail", "replicas: 1", "spec.replicas"),
        ("odd", "app", "fail", "pod of odd has labels 0", ""),
        ("bare", "registry", "pass", "", ""),
        ("bare", "replicas", "fail", "replicas: 1", "spec.replicas"),
        ("bare", "app", "fail", "pod of bare has labels 0", ""),
    ]


def test_a_rule_evaluated_on_its_own_reads_its_binds_as_written() -> None:
    compiled = _compiled()
    rule = next(r for p in compiled.policies for r in p.rules if r.rule.name == "stale-bind")
    activation = compiled.environment.activation({"object": {}, "params": {}})
    assert rule.validate.evaluate(activation) is True
    # an eager bind that fails where the written one would not have needed its value: the
    # program as written decides (here: the bound value is never read)
    loaded = loading.load_text(
        POLICIES.replace(
            '"[1, 2, 3].exists(z, z == 1) && cel.bind(y, 5, y) == 5"',
            "cel.bind(missing, object.nothing.here, true)",
        ),
        file="p.yaml",
        now=NOW,
    )
    again, problems = compiling.compile_policies(loaded.policies)
    assert problems == []
    rule = next(r for p in again.policies for r in p.rules if r.rule.name == "stale-bind")
    assert rule.validate.evaluate(again.environment.activation({"object": {}, "params": {}})) is True


def test_a_document_program_whose_answer_does_not_fit_its_policies_is_a_defect_not_a_verdict() -> None:
    compiled = _compiled()
    for wrong in (
        "[[1]]",  # too few slots
        "[" + ", ".join(["[1]"] * 200) + "]",  # too many
        "[[1], [1], [1]]",  # too few answers in a slot
        "[" + ", ".join(["[" + ", ".join(["1"] * 9) + "]"] * 3) + "]",  # too many
    ):
        program = compiled.environment.compile(wrong)
        assert isinstance(program, cel.Program)
        broken = dataclasses.replace(compiled, document_chunks=(joining.Chunk(program, 0, 3),))
        with pytest.raises(problems.LeitplankeError):
            _results(broken)


def test_a_document_program_that_fails_leaves_each_rule_to_say_what_it_is() -> None:
    compiled = _compiled()
    failing = compiled.environment.compile("[1, 2].map(x, x / 0)")
    assert isinstance(failing, cel.Program)
    broken = dataclasses.replace(compiled, document_chunks=(joining.Chunk(failing, 0, 3),))
    assert _results(broken) == _results(compiled, reference=True)
