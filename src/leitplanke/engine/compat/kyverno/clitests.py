"""Running Kyverno CLI test suites (``kyverno-test.yaml``, ``cli.kyverno.io/v1alpha1 Test``) as they are.

Every ``results`` entry expands into one row per resource; a row agrees when our verdict for
that policy, rule (or its ``autogen-`` variants) and resource is the expected one. Called by
``leitplanke test``; resource files are read through an injected loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from leitplanke.core.documents import Document, SkippedInput
from leitplanke.core.problems import Problem
from leitplanke.engine import compiling, contexts, loading, parsing, policysets, running, testing, yamlnodes

ResourceLoader = Callable[[str], Iterable[Document | Problem | SkippedInput]]
TEST_FILE = "kyverno-test.yaml"
NOT_EVALUATED = "none"
# the policy was applied to the resource but gave no response for the rule (it did not match):
# Kyverno's CLI counts such a row as passed, whatever result it expects
EXCLUDED = "excluded"
_RANK = {"pass": 0, "skip": 1, "warn": 2, "fail": 3, "error": 4}


def is_kyverno_test(file: Path) -> bool:
    if file.name == TEST_FILE:
        return True
    try:
        head = file.read_text(encoding="utf-8")[:2048]
    except (OSError, UnicodeDecodeError):
        return False
    return "cli.kyverno.io/" in head and "kind: Test" in head


def find_tests(paths: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        target = Path(path)
        candidates = [target] if target.is_file() else sorted(target.rglob("*.y*ml"))
        found.extend(f for f in candidates if f.suffix in (".yaml", ".yml") and is_kyverno_test(f))
    return found


def run_tests(paths: Sequence[str], *, load_resources: ResourceLoader, now: datetime) -> testing.TestReport:
    report = testing.TestReport()
    for file in find_tests(paths):
        run_test_file(file, load_resources=load_resources, now=now, report=report)
    report.problems.sort()
    return report


def _read_yaml(path: Path) -> list[yamlnodes.YamlDocument]:
    return list(yamlnodes.read_documents(path.read_text(encoding="utf-8")))


def run_test_file(
    file: Path, *, load_resources: ResourceLoader, now: datetime, report: testing.TestReport
) -> None:
    name = str(file)
    try:
        docs = _read_yaml(file)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        report.problems.append(Problem(name, 0, "unreadable-test", str(exc)))
        return
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("kind") == "Test":
            _run_one(file, doc, load_resources=load_resources, now=now, report=report)


@dataclass(slots=True)
class _Values:
    rules: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # policy → rule → values
    resources: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # policy → resource → values
    global_values: dict[str, Any] = field(default_factory=dict)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)


def _values(path: Path | None, problems: list[Problem]) -> _Values:
    values = _Values()
    if path is None:
        return values
    try:
        docs = _read_yaml(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(Problem(str(path), 0, "unreadable-values", str(exc)))
        return values
    for doc in docs:
        data = doc.data if isinstance(doc.data, dict) else {}
        values.global_values.update(data.get("globalValues") or {})
        for policy in data.get("policies") or []:
            name = str(policy.get("name", ""))
            for rule in policy.get("rules") or []:
                values.rules.setdefault(name, {})[str(rule.get("name", ""))] = dict(rule.get("values") or {})
            for resource in policy.get("resources") or []:
                values.resources.setdefault(name, {})[str(resource.get("name", ""))] = dict(
                    resource.get("values") or {}
                )
        for entry in data.get("namespaceSelector") or []:
            values.namespace_labels[str(entry.get("name", ""))] = dict(entry.get("labels") or {})
        for namespace in data.get("namespaces") or []:
            meta = namespace.get("metadata") or {}
            values.namespaces[str(meta.get("name", ""))] = namespace
            values.namespace_labels.setdefault(str(meta.get("name", "")), dict(meta.get("labels") or {}))
    return values


def _user(path: Path | None, problems: list[Problem]) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        docs = _read_yaml(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(Problem(str(path), 0, "unreadable-userinfo", str(exc)))
        return {}
    return docs[0].data if docs and isinstance(docs[0].data, dict) else {}


def _run_one(
    file: Path,
    doc: yamlnodes.YamlDocument,
    *,
    load_resources: ResourceLoader,
    now: datetime,
    report: testing.TestReport,
) -> None:
    name = str(file)
    f = parsing.Fields(doc, name, report.problems)
    loaded = loading.load_paths([str(file.parent / p) for p in f.strings("policies")], now=now)
    report.problems.extend(loaded.problems)
    # one set per policy: a row asks one policy, with the variables the values file gives it
    policies = {p.policy.id: _policy_set(p) for p in loaded.foreign}
    documents: list[Document] = []
    for entry in f.strings("resources"):
        for item in load_resources(str(file.parent / entry)):
            if isinstance(item, Document):
                documents.append(item)
            elif isinstance(item, Problem):
                report.problems.append(item)
    values_file = f.text("variables")
    values = _values(file.parent / values_file if values_file else None, report.problems)
    user_file = f.text("userinfo")
    user = _user(file.parent / user_file if user_file else None, report.problems)
    raw = f.get("results")
    for index, entry in enumerate(raw if isinstance(raw, list) else []):
        base = f"results[{index}]"
        if not isinstance(entry, dict):
            f.problem(base, "invalid-field", "a result must be a mapping")
            continue
        policy_name = str(entry.get("policy", ""))
        rule = str(entry.get("rule", ""))
        kind = str(entry.get("kind", ""))
        expected = str(entry.get("result", ""))
        policy_set = policies.get(policy_name)
        family = _family(policy_set)
        for resource in entry.get("resources") or []:
            actual = NOT_EVALUATED
            if policy_set is not None:
                actual = _verdict(policy_set, policy_name, rule, kind, str(resource), documents, values, user)
            if actual == EXCLUDED and not family.startswith("kyverno"):
                actual = "skip"  # a ValidatingPolicy that does not match reads as skipped, as before
            report.rows.append(
                testing.Row(
                    name,
                    policy_name,
                    rule,
                    f"{kind}/{resource}",
                    expected,
                    actual,
                    doc.line_of(base),
                    family,
                    # strict: a row we cannot evaluate disagrees
                    agrees=expected == actual or actual == EXCLUDED,
                )
            )


def _policy_set(policy: compiling.CompiledPolicy) -> policysets.PolicySet:
    return running.compile([], options=policysets.CompileOptions(foreign=(policy,)))


def _family(policy_set: policysets.PolicySet | None) -> str:
    if policy_set is None:
        return "unknown"
    foreign = [p.foreign for p in policy_set.compiled.policies if p.foreign is not None]
    return str(getattr(foreign[0], "family", "kyverno")) if foreign else "kyverno"


def _find(documents: Sequence[Document], kind: str, resource: str) -> list[Document]:
    namespace, _, name = resource.rpartition("/")
    return [
        d
        for d in documents
        if d.name == name
        and (not kind or d.kind == kind)
        and (not namespace or (d.namespace or "default") == namespace)
    ]


def _context(doc: Document, policy: str, values: _Values, user: Mapping[str, Any]) -> contexts.Context:
    """The request Kyverno's CLI builds: ``request.operation`` from the values; on UPDATE and
    DELETE the resource is its own old object too (Kyverno's CLI also empties the object on DELETE)."""
    merged = dict(values.global_values)
    merged.update(values.resources.get(policy, {}).get(doc.name, {}))
    info = user.get("userInfo") or {}
    operation = str(merged.get("request.operation", "CREATE"))
    return contexts.Context(
        operation=operation,
        old_object=doc.body if operation in ("UPDATE", "DELETE") else None,
        user_info=info,
        suite=contexts.SuiteInputs(
            roles=tuple(str(role) for role in user.get("roles") or ()),
            cluster_roles=tuple(str(role) for role in user.get("clusterRoles") or ()),
            namespace_labels=values.namespace_labels,
            namespaces=values.namespaces,
            variables=merged,
            rule_variables=values.rules.get(policy, {}),
        ),
    )


def _verdict(
    policy_set: policysets.PolicySet,
    policy: str,
    rule: str,
    kind: str,
    resource: str,
    documents: Sequence[Document],
    values: _Values,
    user: Mapping[str, Any],
) -> str:
    """The policy's verdict for the resource through the engine's public ``evaluate``, as
    ``scan`` and admission reach it: the worst of its rule's results, or ``excluded``."""
    found = _find(documents, kind, resource)
    if not found:
        return NOT_EVALUATED
    verdicts: list[str] = []
    names = (rule, f"autogen-{rule}", f"autogen-cronjob-{rule}") if rule else None
    for doc in found:
        results = running.evaluate(policy_set, doc, context=_context(doc, policy, values, user))
        chosen = [r.verdict.value for r in results if names is None or r.rule in names]
        verdicts.append(max(chosen, key=lambda v: _RANK.get(v, 0)) if chosen else EXCLUDED)
    return max(verdicts, key=lambda v: _RANK.get(v, -1)) if verdicts else NOT_EVALUATED
