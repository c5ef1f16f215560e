"""Policy unit tests in leitplanke's own format (``kind: PolicyTest``).

Each test names policy files, resources (inline or files) and the expected
verdict per (policy, rule, resource). Called by ``leitplanke test``; resource
files are read through an injected loader, so this module does no parsing of its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from leitplanke.core import documents
from leitplanke.core.documents import Document, Origin, SkippedInput
from leitplanke.core.problems import Problem
from leitplanke.core.results import Result, Verdict
from leitplanke.engine import loading, parsing, policysets, running, sinks, yamlnodes

ResourceLoader = Callable[[str], Iterable[Document | Problem | SkippedInput]]
# the domain of an inline resource (a normalised SshdConfig body is not a Kubernetes object)
DomainOf = Callable[[Mapping[str, Any]], str]
# the verdict a (policy, rule, resource) shows when several results exist: the worst one
_RANK = {Verdict.PASS: 0, Verdict.SKIP: 1, Verdict.WARN: 2, Verdict.FAIL: 3, Verdict.ERROR: 4}
NOT_EVALUATED = "none"


@dataclass(frozen=True, slots=True)
class Row:
    test: str
    policy: str
    rule: str
    resource: str
    expected: str
    actual: str
    line: int
    family: str = "leitplanke"  # leitplanke | kyverno | kyverno-cel | validating-policy | gatekeeper-*
    agrees: bool | None = None  # set by runners that score strictly or compare more than a verdict
    # what the author needs besides the verdict: the evaluation error of an ``error`` row, or
    # the nearest resource name when the expected resource is not among the test's resources
    note: str = ""

    @property
    def ok(self) -> bool:
        if self.agrees is not None:
            return self.agrees
        if self.expected == Verdict.SKIP and self.actual == NOT_EVALUATED:
            return True
        return self.expected == self.actual


@dataclass(slots=True)
class TestReport:
    """Rows of every suite format (ours, Kyverno's, Gatekeeper's) and the problems met on the way."""

    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def by_family(self) -> dict[str, tuple[int, int]]:
        """(rows, agreeing rows) per family, for pass rates."""
        table: dict[str, tuple[int, int]] = {}
        for row in self.rows:
            total, agree = table.get(row.family, (0, 0))
            table[row.family] = (total + 1, agree + int(row.ok))
        return dict(sorted(table.items()))

    @property
    def passed(self) -> int:
        return sum(1 for r in self.rows if r.ok)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if not r.ok)


def find_tests(paths: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        target = Path(path)
        candidates = [target] if target.is_file() else sorted(target.rglob("*.y*ml"))
        for file in candidates:
            if file.suffix in (".yaml", ".yml") and _is_test(file):
                found.append(file)
    return found


def _is_test(file: Path) -> bool:
    try:
        head = file.read_text(encoding="utf-8")[:4096]
    except (OSError, UnicodeDecodeError):
        return False
    return "kind: PolicyTest" in head


def kubernetes_domain(body: Mapping[str, Any]) -> str:
    return "kubernetes"


def run_tests(
    paths: Sequence[str],
    *,
    load_resources: ResourceLoader,
    now: datetime,
    domain_of: DomainOf = kubernetes_domain,
) -> TestReport:
    report = TestReport()
    for file in find_tests(paths):
        run_test_file(file, load_resources=load_resources, now=now, report=report, domain_of=domain_of)
    report.problems.sort()
    return report


def run_test_file(
    file: Path,
    *,
    load_resources: ResourceLoader,
    now: datetime,
    report: TestReport,
    domain_of: DomainOf = kubernetes_domain,
) -> None:
    name = str(file)
    try:
        docs = list(yamlnodes.read_documents(file.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        report.problems.append(Problem(name, 0, "unreadable-test", str(exc)))
        return
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("kind") == "PolicyTest":
            _run_one(file, doc, load_resources=load_resources, now=now, report=report, domain_of=domain_of)


def _run_one(
    file: Path,
    doc: yamlnodes.YamlDocument,
    *,
    load_resources: ResourceLoader,
    now: datetime,
    report: TestReport,
    domain_of: DomainOf,
) -> None:
    name = str(file)
    f = parsing.Fields(doc, name, report.problems)
    loaded = loading.load_paths([str(file.parent / p) for p in f.strings("spec.policies")], now=now)
    loaded.extend(loading.load_packs(f.strings("spec.packs"), now=now))
    report.problems.extend(loaded.problems)
    policy_set = running.compile(loaded.policies, options=policysets.CompileOptions())
    report.problems.extend(policy_set.problems)
    sources = _resources(file, doc, f, load_resources, domain_of)
    sink = sinks.Collected()
    scanned = running.scan(
        policy_set,
        [sources],
        sink,
        load=lambda items: items,
        waivers=loaded.waivers,
        now=now,
        jobs=1,
        # a Namespace among the resources is the namespaceObject of the resources in it, as in a scan
        namespaces=documents.namespace_objects(sources),
    )
    report.problems.extend(scanned.problems)
    actual = _actual_verdicts(sink.results)
    errors = dict(_error_messages(sink.results))
    names = sorted({document_key(d) for d in sources if isinstance(d, Document)})
    raw = f.get("spec.expect")
    for index, _row in enumerate(raw if isinstance(raw, list) else []):
        base = f"spec.expect[{index}]"
        policy, rule = f.text(f"{base}.policy", required=True), f.text(f"{base}.rule")
        resource, expected = (
            f.text(f"{base}.resource", required=True),
            f.text(f"{base}.verdict", required=True),
        )
        found = actual.get((policy, rule, resource)) if rule else _any_rule(actual, policy, resource)
        note = ""
        if found == Verdict.ERROR:
            note = next(
                (
                    m
                    for (p, r, res), m in errors.items()
                    if (p, res) == (policy, resource) and r == (rule or r)
                ),
                "",
            )
        elif resource not in names:
            note = _nearest(resource, names)
        report.rows.append(
            Row(name, policy, rule, resource, expected, found or NOT_EVALUATED, doc.line_of(base), note=note)
        )


def _resources(
    file: Path,
    doc: yamlnodes.YamlDocument,
    f: parsing.Fields,
    load_resources: ResourceLoader,
    domain_of: DomainOf,
) -> list[Document | Problem | SkippedInput]:
    items: list[Document | Problem | SkippedInput] = []
    raw = f.get("spec.resources")
    for index, entry in enumerate(raw if isinstance(raw, list) else []):
        path = f"spec.resources[{index}]"
        if isinstance(entry, dict) and set(entry) == {"file"}:
            items.extend(load_resources(str(file.parent / str(entry["file"]))))
        elif isinstance(entry, dict):
            origin = Origin(file=str(file), index=index, line=doc.line_of(path))
            items.append(Document(body=entry, origin=origin, domain=domain_of(entry)))
        else:
            f.problem(path, "invalid-field", "a resource must be a mapping or {file: path}")
    return items


def resource_key(result: Result) -> str:
    r = result.resource
    return f"{r.kind}/{r.namespace}/{r.name}" if r.namespace else f"{r.kind}/{r.name}"


def document_key(document: Document) -> str:
    """A test resource as expectations name it: ``Kind/namespace/name`` or ``Kind/name``."""
    return (
        f"{document.kind}/{document.namespace}/{document.name}"
        if document.namespace
        else f"{document.kind}/{document.name}"
    )


def _nearest(resource: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(resource, names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"no resource {resource} in the test's resources{hint}"


def _error_messages(results: Iterable[Result]) -> Iterable[tuple[tuple[str, str, str], str]]:
    """The message of each erring (policy, rule, resource), the first one where several err."""
    seen: set[tuple[str, str, str]] = set()
    for result in results:
        key = (result.policy, result.rule, resource_key(result))
        if result.verdict is Verdict.ERROR and key not in seen:
            seen.add(key)
            yield key, result.message


def _actual_verdicts(results: Iterable[Result]) -> dict[tuple[str, str, str], str]:
    worst: dict[tuple[str, str, str], Verdict] = {}
    for result in results:
        key = (result.policy, result.rule, resource_key(result))
        if key not in worst or _RANK[result.verdict] > _RANK[worst[key]]:
            worst[key] = result.verdict
    return {key: verdict.value for key, verdict in worst.items()}


def _any_rule(actual: dict[tuple[str, str, str], str], policy: str, resource: str) -> str | None:
    verdicts = [v for (p, _, r), v in actual.items() if p == policy and r == resource]
    if not verdicts:
        return None
    return max(verdicts, key=lambda v: _RANK[Verdict(v)])
