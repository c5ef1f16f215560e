"""Running Gatekeeper ``gator verify`` suites (``suite.yaml``, ``test.gatekeeper.sh/v1alpha1 Suite``).

One row per case and engine: a case agrees when every assertion holds (violation count,
optionally filtered by a message regex); dual-engine templates are run once per engine as
upstream CI does. Called by ``leitplanke test``; objects are read through an injected loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from leitplanke.core.documents import Document, Origin, SkippedInput
from leitplanke.core.policies import SourceRef
from leitplanke.core.problems import Problem
from leitplanke.core.results import Verdict
from leitplanke.engine import contexts, policysets, regexes, running, testing, yamlnodes
from leitplanke.engine.compat.gatekeeper import constrainttemplates, reviews

ResourceLoader = Callable[[str], Iterable[Document | Problem | SkippedInput]]
SUITE_FILE = "suite.yaml"


def is_suite(file: Path) -> bool:
    if file.name == SUITE_FILE:
        return True
    try:
        head = file.read_text(encoding="utf-8")[:2048]
    except (OSError, UnicodeDecodeError):
        return False
    return "test.gatekeeper.sh/" in head and "kind: Suite" in head


def find_suites(paths: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        target = Path(path)
        candidates = [target] if target.is_file() else sorted(target.rglob("*.y*ml"))
        found.extend(f for f in candidates if f.suffix in (".yaml", ".yml") and is_suite(f))
    return found


def run_tests(paths: Sequence[str], *, load_resources: ResourceLoader) -> testing.TestReport:
    report = testing.TestReport()
    for file in find_suites(paths):
        run_suite(file, load_resources=load_resources, report=report)
    report.problems.sort()
    return report


def _read(path: Path) -> list[yamlnodes.YamlDocument]:
    return list(yamlnodes.read_documents(path.read_text(encoding="utf-8")))


def run_suite(file: Path, *, load_resources: ResourceLoader, report: testing.TestReport) -> None:
    try:
        docs = [d for d in _read(file) if isinstance(d.data, dict) and d.data.get("kind") == "Suite"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        report.problems.append(Problem(str(file), 0, "unreadable-test", str(exc)))
        return
    templates: dict[str, constrainttemplates.Template | None] = {}
    for doc in docs:
        if doc.data.get("skip") is True:
            continue
        for index, test in enumerate(doc.data.get("tests") or []):
            if isinstance(test, Mapping) and test.get("skip") is not True:
                _run_test(file, doc, index, test, templates, load_resources, report)


def _template(
    path: Path, cache: dict[str, constrainttemplates.Template | None], problems: list[Problem]
) -> constrainttemplates.Template | None:
    key = str(path)
    if key not in cache:
        cache[key] = None
        try:
            docs = [
                d for d in _read(path) if isinstance(d.data, dict) and constrainttemplates.is_template(d.data)
            ]
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(Problem(key, 0, "unreadable-template", str(exc)))
            return None
        for doc in docs[:1]:

            def problem(field_path: str, code: str, message: str, *, _doc: Any = doc) -> None:
                problems.append(Problem(key, _doc.line_of(field_path), code, message, field=field_path))

            cache[key] = constrainttemplates.parse_template(doc.data, problem=problem)
    return cache[key]


def _objects(path: Path, load_resources: ResourceLoader, problems: list[Problem]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for item in load_resources(str(path)):
        if isinstance(item, Document):
            found.append(item.body)
        elif isinstance(item, Problem):
            problems.append(item)
    if not found and path.is_file():  # e.g. an AdmissionReview a Kubernetes loader set aside
        try:
            found = [d.data for d in _read(path) if isinstance(d.data, dict)]
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(Problem(str(path), 0, "unreadable-object", str(exc)))
    return found


def _run_test(
    file: Path,
    doc: yamlnodes.YamlDocument,
    index: int,
    test: Mapping[str, Any],
    templates: dict[str, constrainttemplates.Template | None],
    load_resources: ResourceLoader,
    report: testing.TestReport,
) -> None:
    base = file.parent
    name = str(test.get("name", ""))
    template = _template(base / str(test.get("template", "")), templates, report.problems)
    constraints = _objects(base / str(test.get("constraint", "")), load_resources, report.problems)
    constraint = (
        constrainttemplates.Constraint(
            str((constraints[0].get("metadata") or {}).get("name", "")),
            str(constraints[0].get("kind", "")),
            constraints[0],
        )
        if constraints
        else None
    )
    engines = template.engines if template is not None else (constrainttemplates.REGO,)
    for number, case in enumerate(test.get("cases") or []):
        if not isinstance(case, Mapping) or case.get("skip") is True:
            continue
        path = f"tests[{index}].cases[{number}]"
        assertions = [a for a in case.get("assertions") or [] if isinstance(a, Mapping)]
        expected = "; ".join(_render(a) for a in assertions)
        obj_file = str(case.get("object", ""))
        objects = _objects(base / obj_file, load_resources, report.problems)
        inventory_bodies = [
            o
            for entry in case.get("inventory") or []
            for o in _objects(base / str(entry), load_resources, report.problems)
        ]
        inventory = reviews.build_inventory(inventory_bodies)
        for engine in engines:
            if template is None or constraint is None or not objects:
                actual = "error: the template, constraint or object could not be read"
                ok = False
            else:
                found = _violations(template, constraint, objects[0], engine, inventory)
                ok = found.error == "" and all(_holds(a, found.messages) for a in assertions)
                actual = expected if ok else _describe(found)
            report.rows.append(
                testing.Row(
                    str(file),
                    name,
                    str(case.get("name", "")),
                    obj_file,
                    expected,
                    actual,
                    doc.line_of(path),
                    f"gatekeeper-{engine}",
                    ok,
                )
            )


def _violations(
    template: constrainttemplates.Template,
    constraint: constrainttemplates.Constraint,
    body: Mapping[str, Any],
    engine: str,
    inventory: Mapping[str, Any],
) -> constrainttemplates.Violations:
    """What ``engine`` says about ``body`` through the engine's public ``evaluate``, as ``scan``
    and admission reach the constraint: its messages, or the error that stopped it."""
    entry = constrainttemplates.constraint_entry(
        template, constraint, inventory=inventory, source=SourceRef("", 0), engine=engine
    )
    policy_set = running.compile([], options=policysets.CompileOptions(foreign=(entry,)))
    document, context = _subject(body)
    results = running.evaluate(policy_set, document, context=context)
    errors = [r.message for r in results if r.verdict is Verdict.ERROR]
    if errors:
        return constrainttemplates.Violations(error="; ".join(errors))
    return constrainttemplates.Violations(
        tuple(r.message for r in results if r.verdict in (Verdict.FAIL, Verdict.WARN))
    )


def _subject(body: Mapping[str, Any]) -> tuple[Document, contexts.Context]:
    """The object and its request: a case's AdmissionReview becomes the request around its
    object (on DELETE, the old object), as the webhook reads one."""
    request = body.get("request") if body.get("kind") == "AdmissionReview" else None
    if not isinstance(request, Mapping):
        return Document(body=body, origin=Origin(file="")), contexts.NO_REQUEST
    obj, old = request.get("object"), request.get("oldObject")
    evaluated = old if obj is None else obj
    context = contexts.Context(
        operation=str(request.get("operation") or "CREATE"),
        old_object=old if isinstance(old, Mapping) else None,
        user_info=request.get("userInfo") or {},
        dry_run=request.get("dryRun") is True,
        sub_resource=str(request.get("subResource") or ""),
        uid=str(request.get("uid") or ""),
    )
    return Document(body=evaluated if isinstance(evaluated, Mapping) else {}, origin=Origin(file="")), context


def _count(assertion: Mapping[str, Any]) -> int | str:
    """``yes`` (at least one, also when absent), ``no`` (none) or an exact count."""
    value = assertion.get("violations", "yes")
    if value is True or value == "yes":
        return "yes"
    if value is False or value == "no":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return "yes"


def _holds(assertion: Mapping[str, Any], messages: Sequence[str]) -> bool:
    pattern = assertion.get("message")
    kept = [m for m in messages if pattern is None or _matches(str(pattern), m)]
    want = _count(assertion)
    return len(kept) >= 1 if want == "yes" else len(kept) == want


def _matches(pattern: str, message: str) -> bool:
    """Does ``message`` match ``pattern`` (Go's regexp, as gator's); a pattern RE2 rejects matches nothing."""
    try:
        return regexes.search(pattern, message)
    except regexes.PatternError:
        return False


def _render(assertion: Mapping[str, Any]) -> str:
    want = _count(assertion)
    text = "violations" if want == "yes" else f"{want} violations"
    return f"{text} /{assertion['message']}/" if "message" in assertion else text


def _describe(found: constrainttemplates.Violations) -> str:
    if found.error:
        return f"error: {found.error}"
    return f"{len(found.messages)} violations" + (f": {' | '.join(found.messages)}" if found.messages else "")
