"""The reference engines' semantics at the edges: explicit nulls, scalar patterns over arrays,
Kyverno test request context, Kyverno's JMESPath, and Rego as OPA runs it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leitplanke import engine
from leitplanke.core.documents import Document
from leitplanke.engine import cel, compiling, loading
from leitplanke.engine.compat.gatekeeper import regoprograms
from leitplanke.engine.compat.kyverno import clitests, patterns, substituting
from leitplanke.sources import files

NOW = datetime(2026, 12, 1, tzinfo=UTC)

CLUSTER_ROLE = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: default-rules}
rules:
"""

NATIVE = """apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: no-wildcard-verbs}
spec:
  title: No wildcard verbs
  severity: high
  match: {kinds: [ClusterRole]}
  rules:
  - name: verbs
    validate: "object.rules == null || !object.rules.exists(r, '*' in r.verbs)"
    message: "'wildcard verb'"
"""

VAP = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-wildcard-verbs-vap}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [rbac.authorization.k8s.io], apiVersions: [v1], operations: [CREATE], resources: [clusterroles]}
  validations:
  - expression: "object.rules == null || !object.rules.exists(r, '*' in r.verbs)"
    message: wildcard verb
"""

KYVERNO_CEL = """apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: no-wildcard-verbs-kyverno}
spec:
  rules:
  - name: verbs
    match: {any: [{resources: {kinds: [ClusterRole]}}]}
    validate:
      cel:
        expressions:
        - expression: "object.rules == null || !object.rules.exists(r, '*' in r.verbs)"
          message: wildcard verb
"""


def _document(tmp_path: Path, text: str) -> Document:
    path = tmp_path / "resource.yaml"
    path.write_text(text, encoding="utf-8")
    [doc] = [d for d in files.load_path(str(path)) if isinstance(d, Document)]
    return doc


def _foreign_verdicts(text: str, doc: Document) -> list[tuple[str, str, str]]:
    loaded = loading.load_text(text, file="p.yaml", now=NOW).build_deferred()
    assert loaded.problems == []
    [policy] = loaded.foreign
    assert policy.foreign is not None
    found = policy.foreign.evaluate(doc, environment=compiling.build_environment())
    return [(o.rule, o.verdict, o.message) for o in found]


def test_an_explicit_null_field_is_null_in_native_cel_in_a_vap_and_in_kyverno_cel(tmp_path: Path) -> None:
    doc = _document(tmp_path, CLUSTER_ROLE)
    assert doc.body["rules"] is None
    policy_set = engine.compile(loading.load_text(NATIVE, file="p.yaml", now=NOW).policies)
    assert [(r.policy, r.verdict.value) for r in engine.evaluate(policy_set, doc.body)] == [
        ("no-wildcard-verbs", "pass")
    ]
    assert _foreign_verdicts(VAP, doc) == [("no-wildcard-verbs-vap", "pass", "")]
    assert _foreign_verdicts(KYVERNO_CEL, doc) == [("verbs", "pass", "")]


def test_kyverno_anchors_see_a_null_field_as_present_as_kyverno_does() -> None:
    body = {"spec": {"hostNetwork": None}}
    assert patterns.match_pattern(body, {"spec": {"X(hostNetwork)": "null"}}) == patterns.PatternOutcome(
        "fail", "/spec/hostNetwork/ is not allowed", "/spec/hostNetwork/"
    )
    assert patterns.match_pattern(body, {"spec": {"=(hostNetwork)": {"a": 1}}}) == patterns.PatternOutcome(
        "fail", "pattern and resource have different structures at /spec/hostNetwork/", "/spec/hostNetwork/"
    )
    assert patterns.match_pattern({"spec": {}}, {"spec": {"X(hostNetwork)": "null"}}).verdict == "pass"


SUPPLEMENTAL = {"spec": {"=(securityContext)": {"=(supplementalGroups)": "100-200 | 500-600"}}}


def _groups(groups: list[int]) -> dict[str, Any]:
    return {"spec": {"securityContext": {"supplementalGroups": groups}}}


def test_a_scalar_pattern_over_an_array_of_scalars_checks_every_element() -> None:
    assert patterns.match_pattern(_groups([100, 550]), SUPPLEMENTAL).verdict == "pass"
    assert patterns.match_pattern(_groups([]), SUPPLEMENTAL).verdict == "pass"
    assert patterns.match_pattern(_groups([100, 300]), SUPPLEMENTAL) == patterns.PatternOutcome(
        "fail",
        "validation error at /spec/securityContext/supplementalGroups/: "
        "expected '100-200 | 500-600', found [100, 300]",
        "/spec/securityContext/supplementalGroups/",
    )


def test_a_jmespath_subexpression_over_a_missing_field_is_null_as_in_kyverno() -> None:
    data = {"spec": {"containers": [{"name": "a", "resources": {"requests": {}}}, {"name": "b"}]}}
    assert substituting.search("spec.containers[].resources.keys(@)[]", data) == ["requests"]
    assert substituting.search("spec.missing.keys(@)", data) is None


def test_kyverno_jmespath_hashes_and_cron_fields() -> None:
    assert substituting.search("sha256('abc')", {}) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert substituting.search("time_to_cron('2023-02-02T15:04:05Z')", {}) == "4 15 2 2 4"


GUARD = """apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: guard}
spec:
  rules:
  - name: admins-only
    match: {any: [{resources: {kinds: [ConfigMap]}}]}
    validate:
      message: "{{ request.userInfo.username }} is no admin"
      deny:
        conditions:
          all:
          - {key: admins, operator: AnyNotIn, value: "{{ request.userInfo.groups }}"}
          - {key: cluster-admin, operator: AnyNotIn, value: "{{ request.clusterRoles }}"}
  - name: same-data
    match: {any: [{resources: {kinds: [ConfigMap], operations: [UPDATE]}}]}
    validate:
      message: data changed
      deny:
        conditions:
          any:
          - {key: "{{ request.object.data }}", operator: NotEquals, value: "{{ request.oldObject.data }}"}
"""

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {a: b}\n"


def _kyverno_test(folder: Path, *, groups: list[str], operation: str, expected: dict[str, str]) -> None:
    folder.mkdir()
    (folder / "policy.yaml").write_text(GUARD, encoding="utf-8")
    (folder / "resource.yaml").write_text(CONFIG_MAP, encoding="utf-8")
    (folder / "values.yaml").write_text(
        f"apiVersion: cli.kyverno.io/v1alpha1\nkind: Values\nglobalValues:\n  request.operation: {operation}\n",
        encoding="utf-8",
    )
    (folder / "user.yaml").write_text(
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: UserInfo\nclusterRoles: [view]\n"
        f"userInfo: {{username: alice, groups: {groups}}}\n",
        encoding="utf-8",
    )
    results = "".join(
        f"- {{policy: guard, rule: {rule}, kind: ConfigMap, resources: [settings], result: {result}}}\n"
        for rule, result in expected.items()
    )
    (folder / "kyverno-test.yaml").write_text(
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata: {name: t}\npolicies: [policy.yaml]\n"
        f"resources: [resource.yaml]\nvariables: values.yaml\nuserinfo: user.yaml\nresults:\n{results}",
        encoding="utf-8",
    )


def _rows(root: Path) -> list[tuple[str, str, str, str, bool]]:
    report = clitests.run_tests([str(root)], load_resources=files.load_path, now=NOW)
    assert report.problems == []
    return sorted((Path(r.test).parent.name, r.rule, r.expected, r.actual, r.ok) for r in report.rows)


def test_kyverno_tests_evaluate_with_their_user_roles_groups_and_update_old_object(tmp_path: Path) -> None:
    _kyverno_test(
        tmp_path / "dev",
        groups=["dev"],
        operation="UPDATE",
        expected={"admins-only": "fail", "same-data": "pass"},
    )
    _kyverno_test(
        tmp_path / "admin",
        groups=["dev", "admins"],
        operation="CREATE",
        # same-data matches UPDATE only: Kyverno's CLI counts a rule with no response as passed
        expected={"admins-only": "pass", "same-data": "fail"},
    )
    assert _rows(tmp_path) == [
        ("admin", "admins-only", "pass", "pass", True),
        ("admin", "same-data", "fail", "excluded", True),
        ("dev", "admins-only", "fail", "fail", True),
        ("dev", "same-data", "pass", "pass", True),
    ]


def test_parse_service_account_splits_a_service_account_username_as_kyverno_does() -> None:
    env = cel.build_environment(variables=("name",))
    program = env.compile("parseServiceAccount(name)")
    assert not isinstance(program, cel.CelIssue)
    activation = env.activation({"name": "system:serviceaccount:shop:builder"})
    assert program.evaluate(activation) == {"Namespace": "shop", "Name": "builder"}
    assert program.evaluate(env.activation({"name": "alice"})) == {"Namespace": "", "Name": ""}


def _violations(source: str, review: dict[str, Any] | None = None) -> Any:
    program = regoprograms.build_program(source)
    assert not isinstance(program, regoprograms.RegoFailure), program
    return program.query_set("violation", review or {})


def test_rego_sprintf_formats_builtin_strings_sets_and_objects_as_opa_does() -> None:
    source = """package edges
violation[{"msg": msg}] {
  joined := concat(",", ["a", "b"])
  fallback := object.get(input, "missing", "none")
  msg := sprintf("%v|%s|%v|%v|%v|%v", [joined, lower("X"), fallback, {"b", "a"}, {"k": "v"}, input.name])
}
"""
    assert _violations(source, {"name": "ä\n"}) == [{"msg": 'a,b|x|none|{"a", "b"}|{"k": "v"}|ä\n'}]


def test_rego_v1_keywords_work_in_modules_that_import_them_function_heads_included() -> None:
    source = """package edges
import future.keywords

allowed(c) = ok if { ok := c in {"a", "b"} }

violation contains {"msg": msg} if {
  some c in input.containers
  not allowed(c)
  every other in input.containers { other != "" }
  msg := sprintf("container %v is not allowed", [c])
}
"""
    assert _violations(source, {"containers": ["a", "z"]}) == [{"msg": "container z is not allowed"}]
    rego_v1 = source.replace("import future.keywords", "import rego.v1")
    assert _violations(rego_v1, {"containers": ["a", "z"]}) == [{"msg": "container z is not allowed"}]
