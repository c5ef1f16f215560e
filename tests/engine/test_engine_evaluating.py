"""The engine end to end on in-memory documents: loading, compiling, evaluating, waivers, scanning."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from leitplanke.core.documents import Document, Origin
from leitplanke.core.policies import Severity
from leitplanke.core.results import ScanReport
from leitplanke.engine import collecting, compiling, itemsources, loading, scanning, sinks
from leitplanke.reports import jsonreports

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

PRIVILEGED = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: disallow-privileged}
spec:
  title: Privileged containers are not allowed
  severity: critical
  category: Pod Security
  controls: ["PSS:baseline/privileged"]
  match: {podSpec: true}
  rules:
  - name: no-privileged-containers
    forEach: podSpec.containers + podSpec.?initContainers.orValue([])
    validate: "!item.?securityContext.?privileged.orValue(false)"
    message: "'container ' + item.name + ' is privileged'"
    path: item.securityContext.privileged
    fix: {merge: {securityContext: {privileged: false}}}
  - name: no-host-network
    validate: "!podSpec.?hostNetwork.orValue(false)"
    message: "'hostNetwork is true'"
    path: podSpec.hostNetwork
"""

REGISTRY = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: allowed-registries}
spec:
  title: Images come from allowed registries
  severity: high
  match: {podSpec: true, excludeNamespaces: [kube-*]}
  params: {registries: [registry.example.com/]}
  rules:
  - name: registry
    forEach: podSpec.containers
    validate: params.registries.exists(r, item.image.startsWith(r))
    message: "item.image + ' is not from ' + params.registries.join(', ')"
"""

PDB = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: pdb-for-replicas}
spec:
  title: Multi-replica Deployments have a PodDisruptionBudget
  severity: medium
  match: {kinds: [Deployment]}
  rules:
  - name: has-pdb
    collect: [PodDisruptionBudget]
    validate: >-
      object.spec.?replicas.orValue(1) < 2 || documents.exists(d,
        d.metadata.?namespace.orValue('') == object.metadata.?namespace.orValue('') &&
        d.spec.selector.matchLabels.all(k, object.spec.template.metadata.labels[?k] == optional.of(d.spec.selector.matchLabels[k])))
    message: "'no PodDisruptionBudget selects ' + object.metadata.name"
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      hostNetwork: true
      containers:
      - name: app
        image: registry.example.com/web:1.2
      - name: sidecar
        image: docker.io/proxy:1
        securityContext:
          privileged: true
"""


def _docs(text: str, file: str = "m.yaml") -> list[Document]:
    return [
        Document(body=body, origin=Origin(file=file, index=i, line=1))
        for i, body in enumerate(yaml.safe_load_all(text))
        if body
    ]


def _scan(policy_texts: Iterable[str], docs: list[Document], waivers: str = "") -> ScanReport:
    loaded = loading.Loaded()
    for i, text in enumerate(policy_texts):
        loaded.extend(loading.load_text(text, file=f"p{i}.yaml", now=NOW))
    if waivers:
        loaded.extend(loading.load_text(waivers, file="w.yaml", now=NOW))
    assert loaded.problems == []
    compiled, problems = compiling.compile_policies(loaded.policies)
    assert problems == []
    sink = sinks.Collected()
    scanned = scanning.scan(compiled, [docs], sink, load=lambda d: d, waivers=loaded.waivers, now=NOW, jobs=1)
    return sink.report(scanned)


def _rows(report: ScanReport) -> set[tuple[str, str, str, str, str]]:
    return {(r.policy, r.rule, r.resource.display, r.verdict.value, r.location.path) for r in report.results}


def test_a_pod_rule_covers_a_deployment_and_points_at_the_offending_container() -> None:
    report = _scan([PRIVILEGED], _docs(DEPLOYMENT))
    assert _rows(report) == {
        (
            "disallow-privileged",
            "no-privileged-containers",
            "Deployment/shop/web",
            "fail",
            "spec.template.spec.containers[1].securityContext.privileged",
        ),
        (
            "disallow-privileged",
            "no-host-network",
            "Deployment/shop/web",
            "fail",
            "spec.template.spec.hostNetwork",
        ),
    }
    messages = {r.rule: r.message for r in report.results}
    assert messages == {
        "no-privileged-containers": "container sidecar is privileged",
        "no-host-network": "hostNetwork is true",
    }
    fix = next(r.fix for r in report.results if r.rule == "no-privileged-containers")
    assert fix == {
        "path": "spec.template.spec.containers[1]",
        "merge": {"securityContext": {"privileged": False}},
        "remove": [],
        "safe": False,  # not said to be safe: a fix is trusted only when its author says so
        "description": "",
    }


def test_params_reach_the_rule_and_namespaces_are_excluded_by_pattern() -> None:
    system = DEPLOYMENT.replace("namespace: shop", "namespace: kube-system")
    report = _scan([REGISTRY], _docs(DEPLOYMENT) + _docs(system, "s.yaml"))
    assert [(r.resource.display, r.verdict.value, r.message) for r in report.results] == [
        ("Deployment/shop/web", "fail", "docker.io/proxy:1 is not from registry.example.com/")
    ]


def test_a_runtime_error_becomes_an_error_result_and_the_scan_goes_on() -> None:
    broken = PRIVILEGED.replace('"!podSpec.?hostNetwork.orValue(false)"', '"!podSpec.hostNetwork"')
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x}]}\n"
    report = _scan([broken], _docs(pod))
    by_rule = {r.rule: (r.verdict.value, r.message) for r in report.results}
    assert by_rule["no-privileged-containers"] == ("pass", "")
    assert by_rule["no-host-network"][0] == "error"
    assert "hostNetwork" in by_rule["no-host-network"][1]


def test_set_level_rule_sees_the_other_documents_of_the_scan() -> None:
    pdb = (
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: shop}\n"
        "spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}\n"
    )
    other = DEPLOYMENT.replace("name: web,", "name: api,").replace("app: web", "app: api")
    without = _scan([PDB], _docs(DEPLOYMENT) + _docs(other, "o.yaml"))
    assert {(r.resource.name, r.verdict.value) for r in without.results} == {("web", "fail"), ("api", "fail")}
    with_pdb = _scan([PDB], _docs(DEPLOYMENT) + _docs(other, "o.yaml") + _docs(pdb, "pdb.yaml"))
    assert {(r.resource.name, r.verdict.value) for r in with_pdb.results} == {
        ("web", "pass"),
        ("api", "fail"),
    }
    assert (
        next(r.message for r in with_pdb.results if r.resource.name == "api")
        == "no PodDisruptionBudget selects api"
    )


WAIVER = """
apiVersion: leitplanke.dev/v1
kind: Waiver
metadata: {name: web-needs-host-network}
spec:
  policies: [disallow-privileged]
  rules: [no-host-network]
  match: {kinds: [Deployment], namespaces: [shop], names: [web]}
  reason: the node exporter sidecar reads host metrics
  owner: team-shop
  approver: alice
  expires: EXPIRES
"""


def test_a_valid_waiver_turns_the_failure_into_a_skip_naming_the_waiver() -> None:
    report = _scan([PRIVILEGED], _docs(DEPLOYMENT), waivers=WAIVER.replace("EXPIRES", "2026-12-20"))
    rows = {(r.rule, r.verdict.value, r.waiver) for r in report.results}
    assert rows == {
        ("no-privileged-containers", "fail", ""),
        ("no-host-network", "skip", "web-needs-host-network"),
    }


def test_an_expired_waiver_no_longer_suppresses_a_finding_and_is_warned_about() -> None:
    report = _scan([PRIVILEGED], _docs(DEPLOYMENT), waivers=WAIVER.replace("EXPIRES", "2026-11-01"))
    assert {(r.rule, r.verdict.value) for r in report.results} == {
        ("no-privileged-containers", "fail"),
        ("no-host-network", "fail"),
    }
    assert [(p.code, p.level.value) for p in report.problems] == [("waiver-expired", "warning")]


def test_a_waiver_without_expiry_or_beyond_the_maximum_is_rejected_at_load() -> None:
    missing = loading.load_text(WAIVER.replace("  expires: EXPIRES\n", ""), file="w.yaml", now=NOW)
    far = loading.load_text(WAIVER.replace("EXPIRES", "2027-06-01"), file="w.yaml", now=NOW)
    assert missing.waivers == [] and far.waivers == []
    assert [(p.code, p.line, p.field) for p in missing.problems] == [("missing-expiry", 5, "spec.expires")]
    assert [(p.code, p.line, p.field) for p in far.problems] == [("expiry-too-far", 12, "spec.expires")]


def test_a_cel_syntax_error_names_file_line_field_and_column() -> None:
    broken = PRIVILEGED.replace('"!podSpec.?hostNetwork.orValue(false)"', '"!podSpec.hostNetwork &&"')
    loaded = loading.load_text(broken, file="bad.yaml", now=NOW)
    _, problems = compiling.compile_policies(loaded.policies)
    assert [(p.file, p.line, p.code, p.field, p.column > 0) for p in problems] == [
        ("bad.yaml", 19, "cel-compile", "spec.rules[1].validate", True)
    ]


def test_an_unknown_cel_variable_is_an_authoring_error() -> None:
    broken = PRIVILEGED.replace('"!podSpec.?hostNetwork.orValue(false)"', '"!spec.hostNetwork"')
    loaded = loading.load_text(broken, file="bad.yaml", now=NOW)
    _, problems = compiling.compile_policies(loaded.policies)
    assert [(p.code, p.field) for p in problems] == [("cel-compile", "spec.rules[1].validate")]
    assert "spec" in problems[0].message


def test_policy_field_errors_are_collected_together_with_lines(tmp_path: Path) -> None:
    text = PRIVILEGED.replace("severity: critical", "severity: urgent").replace(
        "  - name: no-host-network\n", "  - nam: no-host-network\n"
    )
    loaded = loading.load_text(text, file="bad.yaml", now=NOW)
    assert loaded.policies == []
    assert sorted((p.line, p.code, p.field) for p in loaded.problems) == [
        (7, "invalid-severity", "spec.severity"),
        (18, "missing-field", "spec.rules[1].name"),
    ]


def test_results_are_in_a_deterministic_order_whatever_the_input_order() -> None:
    docs = _docs(DEPLOYMENT, "b.yaml") + _docs(DEPLOYMENT.replace("name: web,", "name: a,"), "a.yaml")
    forward = _scan([PRIVILEGED, REGISTRY], docs)
    backward = _scan([PRIVILEGED, REGISTRY], list(reversed(docs)))
    assert forward.results == backward.results
    assert next(r.location.file for r in forward.results) == "a.yaml"


PDB_DOC = (
    "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: shop}\n"
    "spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}\n"
)


def _sources() -> list[list[Document]]:
    api = DEPLOYMENT.replace("name: web,", "name: api,").replace("app: web", "app: api")
    return [
        _docs(DEPLOYMENT + "---\n" + api, "b.yaml"),
        _docs(api.replace("namespace: shop", "namespace: kube-system"), "a.yaml"),
        _docs(PDB_DOC, "c.yaml"),
    ]


def _scan_sources(
    *, jobs: int, render: sinks.Renderer | None = None, spool: str = "", keep_passes: bool = True
) -> ScanReport:
    loaded = loading.Loaded()
    for i, text in enumerate((PRIVILEGED, REGISTRY, PDB)):
        loaded.extend(loading.load_text(text, file=f"p{i}.yaml", now=NOW))
    loaded.extend(loading.load_text(WAIVER.replace("EXPIRES", "2026-12-20"), file="w.yaml", now=NOW))
    compiled, _ = compiling.compile_policies(loaded.policies)
    sink: sinks.Sink = sinks.Collected() if keep_passes else sinks.Findings()
    if render is not None:
        sink = sinks.Spooled(render, spool=spool)
    scanned = scanning.scan(
        compiled, _sources(), sink, load=lambda docs: docs, waivers=loaded.waivers, now=NOW, jobs=jobs
    )
    return sink.report(scanned)


def test_set_level_results_follow_the_results_of_their_documents_own_rules() -> None:
    report = _scan_sources(jobs=2)
    rows = [(r.location.file, r.location.index, r.policy, r.rule, r.verdict.value) for r in report.results]
    assert rows == [
        ("a.yaml", 0, "disallow-privileged", "no-host-network", "fail"),
        ("a.yaml", 0, "disallow-privileged", "no-privileged-containers", "fail"),
        ("a.yaml", 0, "pdb-for-replicas", "has-pdb", "fail"),
        ("b.yaml", 0, "allowed-registries", "registry", "fail"),
        ("b.yaml", 0, "disallow-privileged", "no-host-network", "skip"),
        ("b.yaml", 0, "disallow-privileged", "no-privileged-containers", "fail"),
        ("b.yaml", 0, "pdb-for-replicas", "has-pdb", "pass"),
        ("b.yaml", 1, "allowed-registries", "registry", "fail"),
        ("b.yaml", 1, "disallow-privileged", "no-host-network", "fail"),
        ("b.yaml", 1, "disallow-privileged", "no-privileged-containers", "fail"),
        ("b.yaml", 1, "pdb-for-replicas", "has-pdb", "fail"),
    ]


@pytest.mark.parametrize("jobs", [1, 2])
def test_workers_that_render_the_json_report_write_the_same_report(jobs: int, tmp_path: Path) -> None:
    expected = jsonreports.render(_scan_sources(jobs=jobs), policies={}, now=NOW)
    rendered = _scan_sources(jobs=jobs, render=jsonreports.LineRenderer(), spool=str(tmp_path))
    assert rendered.rendered is not None
    # each document's own results, then its set-level ones (has-pdb), rendered by workers too
    assert [(s.file, s.index) for s in rendered.rendered.segments] == [
        ("a.yaml", 0),
        ("a.yaml", 0),
        ("b.yaml", 0),
        ("b.yaml", 0),
        ("b.yaml", 1),
        ("b.yaml", 1),
    ]
    assert rendered.results == []  # the caller holds no result
    assert jsonreports.render(rendered, policies={}, now=NOW) == expected
    # to a file, the spool's bytes go by sendfile, not through Python: the same report
    with open(tmp_path / "report.json", "w", encoding="utf-8") as out:
        out.write("")
        jsonreports.write(rendered, out, now=NOW)
    assert (tmp_path / "report.json").read_text("utf-8") == expected
    (tmp_path / "report.json").unlink()
    assert rendered.counts() == {"pass": 1, "fail": 9, "warn": 0, "error": 0, "skip": 1}
    assert rendered.failing_count(Severity.HIGH) == 7  # critical and high: 9 fails less 2 medium
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {Path(s.spool).name for s in rendered.rendered.segments}
    )


# a PDB counts only when a Deployment of its namespace is named in its annotation: the filter
# sees every collected document as `documents` and runs once per namespace, not per subject
PDB_NAMED = PDB.replace(
    "    collect: [PodDisruptionBudget]\n",
    "    collect: [PodDisruptionBudget]\n"
    "    collectFilter: >-\n"
    "      item.metadata.?annotations[?'for'].orValue('') in\n"
    "      documents.map(d, d.metadata.name) && subjectNamespace == 'shop'\n",
)


def test_a_collect_filter_keeps_only_the_documents_it_holds_for() -> None:
    pdb = (
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\n"
        "metadata: {name: web, namespace: shop, annotations: {for: ANNOTATION}}\n"
        "spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}\n"
    )
    # the filter names the other PDB: "web-pdb" is a PDB's name, so the PDB annotated with it is kept
    other = pdb.replace("name: web,", "name: web-pdb,").replace("app: web", "app: none")
    kept = _scan(
        [PDB_NAMED],
        _docs(DEPLOYMENT) + _docs(pdb.replace("ANNOTATION", "web-pdb"), "p.yaml") + _docs(other, "q.yaml"),
    )
    dropped = _scan(
        [PDB_NAMED],
        _docs(DEPLOYMENT) + _docs(pdb.replace("ANNOTATION", "nothing"), "p.yaml") + _docs(other, "q.yaml"),
    )
    assert [(r.resource.name, r.verdict.value) for r in kept.results] == [("web", "pass")]
    assert [(r.resource.name, r.verdict.value) for r in dropped.results] == [("web", "fail")]


def test_a_collect_filter_that_fails_makes_its_subjects_error_results() -> None:
    broken = PDB_NAMED.replace("item.metadata.?annotations", "item.metadata.annotations")
    pdb = (
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: shop}\nspec: {}\n"
    )
    report = _scan([broken], _docs(DEPLOYMENT) + _docs(pdb, "p.yaml"))
    assert [(r.resource.name, r.verdict.value) for r in report.results] == [("web", "error")]
    assert (
        report.results[0].message == 'collectFilter failed: NOT_FOUND: Key not found in map : "annotations"'
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_scan_for_findings_counts_its_passes_without_keeping_them(jobs: int) -> None:
    everything = _scan_sources(jobs=jobs)
    findings = _scan_sources(jobs=jobs, keep_passes=False)
    assert findings.results == [r for r in everything.results if r.verdict.value != "pass"]
    assert (
        findings.counts() == everything.counts() == {"pass": 1, "fail": 9, "warn": 0, "error": 0, "skip": 1}
    )
    assert sum(findings.dropped.values()) == 1


PORTS = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: no-ports-on-tagged-images}
spec:
  title: Tagged images expose no ports
  severity: low
  match: {podSpec: true}
  rules:
  - name: no-ports
    # a filter over the pod's lists: failing items are found by their place in those lists
    forEach: >-
      (podSpec.containers + podSpec.?initContainers.orValue([]))
        .filter(c, c.image.contains(':') && c.name != ')')
    validate: "!has(item.ports)"
    # reads a field only failing items have: evaluated for them alone
    message: "'container ' + item.name + ' exposes ' + string(item.ports[0].containerPort)"
    path: item.ports
"""

FILTERED = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  initContainers:
  - name: init
    image: busybox:1
    ports: [{containerPort: 9000}]
  containers:
  - name: untagged
    image: nginx
    ports: [{containerPort: 80}]
  - name: app
    image: web:2
  - name: metrics
    image: exporter:3
    ports: [{containerPort: 9100}]
"""


def test_a_filtered_for_each_points_at_the_failing_items_of_the_pod() -> None:
    report = _scan([PORTS], _docs(FILTERED))
    assert [(r.verdict.value, r.location.path, r.message) for r in report.results] == [
        ("fail", "spec.containers[2].ports", "container metrics exposes 9100"),
        ("fail", "spec.initContainers[0].ports", "container init exposes 9000"),
    ]


@pytest.mark.parametrize(
    ("for_each", "expected"),
    [
        (
            "(podSpec.containers + podSpec.?initContainers.orValue([])).filter(c, c.name == ')')",
            ("(podSpec.containers + podSpec.?initContainers.orValue([]))", "c", " c.name == ')'"),
        ),
        (
            "object.spec.entries.filter(e, e.name in ['a', 'b'])",
            ("object.spec.entries", "e", " e.name in ['a', 'b']"),
        ),
        ("podSpec.containers.filter(c, true).filter(d, false)", None),  # the base filters already
        ("podSpec.containers.filter(c, c.x) + podSpec.?initContainers.orValue([])", None),
        ("podSpec.containers.map(c, c.name)", None),
        ("documents.filter(d, d.kind == 'Service')", None),  # not the document's own lists
    ],
)
def test_a_filter_over_the_documents_lists_is_recognised(for_each: str, expected: object) -> None:
    assert itemsources.filtered_sources(for_each) == expected


def test_kept_bodies_come_back_as_they_were_plain_or_not() -> None:
    plain = {"kind": "Pod", "spec": {"replicas": 2, "ratio": 0.5, "on": True, "none": None, "list": ["a", 1]}}
    odd = {"kind": "Pod", "created": datetime(2026, 1, 2, tzinfo=UTC), "tags": ("a", "b")}
    for body in (plain, odd):
        assert collecting._thawed(collecting._frozen(body)) == body
    assert collecting._frozen(plain)[:1] == b"m"  # marshal: faster both ways
    assert collecting._frozen(odd)[:1] == b"p"  # what marshal cannot hold (a datetime) goes by pickle


# the PDBs of the namespace that name a Deployment, kept once per namespace as a variable;
# the filter and the rule read it, and the message names how many there were
PDB_VARIABLES = PDB.replace(
    "    collect: [PodDisruptionBudget]\n",
    "    collect: [PodDisruptionBudget]\n"
    "    collectVariables:\n"
    "      named: documents.filter(d, has(d.metadata.annotations) && d.metadata.annotations['for'] != '')\n"
    "      where: subjectNamespace\n"
    "    collectFilter: item in variables.named\n",
).replace(
    "message: \"'no PodDisruptionBudget selects ' + object.metadata.name\"",
    "message: \"'no PodDisruptionBudget selects ' + object.metadata.name + ' in ' + variables.where"
    " + ' (' + string(size(variables.named)) + ' named)'\"",
)


def _pdb(name: str, annotation: str, app: str) -> list[Document]:
    annotations = f", annotations: {{for: {annotation}}}" if annotation else ""
    text = (
        f"apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: {name}, namespace: shop{annotations}}}\n"
        f"spec: {{minAvailable: 1, selector: {{matchLabels: {{app: {app}}}}}}}\n"
    )
    return _docs(text, f"{name}.yaml")


def test_collect_variables_are_evaluated_once_per_namespace_for_the_filter_and_the_rule() -> None:
    named = _scan([PDB_VARIABLES], _docs(DEPLOYMENT) + _pdb("web", "web", "web"))
    assert [(r.resource.name, r.verdict.value) for r in named.results] == [("web", "pass")]
    # an unnamed PDB is not among the variable's documents, so the filter drops it
    unnamed = _scan([PDB_VARIABLES], _docs(DEPLOYMENT) + _pdb("web", "", "web") + _pdb("other", "x", "x"))
    assert [(r.resource.name, r.verdict.value, r.message) for r in unnamed.results] == [
        ("web", "fail", "no PodDisruptionBudget selects web in shop (1 named)")
    ]


def test_a_collect_variable_that_fails_makes_its_subjects_error_results() -> None:
    broken = PDB_VARIABLES.replace("has(d.metadata.annotations) && d.metadata", "d.metadata")
    report = _scan([broken], _docs(DEPLOYMENT) + _pdb("web", "", "web"))
    assert [(r.resource.name, r.verdict.value, r.message) for r in report.results] == [
        ("web", "error", 'collectVariables failed: NOT_FOUND: Key not found in map : "annotations"')
    ]


def test_collect_variables_are_checked_with_their_field_and_line() -> None:
    text = PDB_VARIABLES.replace("where: subjectNamespace", "where: subjectNamespace +")
    loaded = loading.load_text(text, file="p.yaml", now=NOW)
    _, problems = compiling.compile_policies(loaded.policies)
    assert [(p.line, p.code, p.field) for p in problems] == [
        (14, "cel-compile", "spec.rules[0].collectVariables.where")
    ]
    bad = PDB_VARIABLES.replace(
        "      where: subjectNamespace\n", "      not-a-name: subjectNamespace\n      empty: ''\n"
    )
    loaded = loading.load_text(bad, file="p.yaml", now=NOW)
    assert [(p.line, p.code, p.field) for p in loaded.problems] == [
        (12, "invalid-field", "spec.rules[0].collectVariables"),
        (15, "invalid-field", "spec.rules[0].collectVariables.empty"),
    ]
    alone = PRIVILEGED.replace(
        "    path: podSpec.hostNetwork\n", "    path: podSpec.hostNetwork\n    collectVariables: {x: '1'}\n"
    )
    loaded = loading.load_text(alone, file="p.yaml", now=NOW)
    assert [(p.code, p.field, p.message) for p in loaded.problems] == [
        (
            "invalid-field",
            "spec.rules[1].collectVariables",
            "spec.rules[1].collectVariables needs collect: it is evaluated over the collected documents",
        )
    ]
