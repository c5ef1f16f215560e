"""The results of one document as values: passes (most results) built on the hot path,
failures with their message and fix, errors with a stable code.

``judging`` (rule by rule) and ``evaluating`` (the fast path) build them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.results import Location, Result, Verdict
from leitplanke.engine import subjects
from leitplanke.engine.compiling import CompiledPolicy, CompiledRule

MATCH_RULE = "match"  # the rule name of a result about a policy's match condition
# enum members as module constants: attribute access on an Enum class is slow on the hot path
PASS, FAIL, WARN, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.WARN, Verdict.ERROR

# the stable codes of results that are not plain verdicts (``Result.code``)
CEL_EVAL = "cel-eval"  # error: the CEL runtime returned an error value
CEL_TYPE = "cel-type"  # error: a verdict (validate, a match condition) is not a bool
FOREACH_NOT_LIST = "foreach-not-list"  # error: a forEach did not produce a list
FOREIGN_EVAL = "foreign-eval"  # error: a compatibility engine's rule could not be evaluated
MESSAGE_FAILED = "message-failed"  # fail or warn: the rule fails, its message could not be built


@dataclass(slots=True)
class Outcome:
    results: list[Result] = field(default_factory=list)
    evaluations: int = 0
    subject: subjects.Subject | None = None  # the document as evaluated, if a policy matched it


class Passes:
    """Passing results of one document, built on the hot path: most results are passes.

    A pass points at its document's line, so passes at the same path share one Location.
    """

    __slots__ = ("locations", "origin", "prefix", "resource", "subject")

    def __init__(self, subject: subjects.Subject) -> None:
        self.subject = subject
        self.resource = subject.resource
        self.origin = subject.doc.origin
        self.locations: dict[str, Location] = {}
        # the key of ``CompiledRule.paths``; None where no pod spec is found at a pod-bearing kind's place
        self.prefix = subject.pod_prefix if subject.pod_prefix or subject.pod_spec is None else None

    def path(self, rule: CompiledRule) -> str:
        """The document path of the rule's ``path`` (with no forEach item)."""
        if self.prefix is not None:
            return rule.paths[self.prefix]
        return subjects.resolve_path(rule.rule.path, self.subject, item_path="")

    def result(self, policy: CompiledPolicy, rule: CompiledRule, path: str) -> Result:
        location = self.locations.get(path)
        if location is None:
            origin = self.origin
            location = self.locations[path] = Location(origin.file, origin.line, path, origin.index)
        p = policy.policy
        return Result(
            p.id,
            rule.rule.name,
            self.resource,
            PASS,
            p.severity,
            "",
            location,
            None,
            "",
            p.category,
            p.controls,
        )


def location(subject: subjects.Subject, path: str, *, precise: bool = True) -> Location:
    """Where a result points; a pass points at its document (looking up lines costs time)."""
    origin = subject.doc.origin
    line = origin.line_of(path) if precise else origin.line
    return Location(file=origin.file, line=line, path=path, index=origin.index)


def make_result(
    policy: CompiledPolicy,
    rule: CompiledRule,
    subject: subjects.Subject,
    verdict: Verdict,
    message: str,
    path: str,
    *,
    fix: Mapping[str, Any] | None = None,
    code: str = "",
) -> Result:
    p = policy.policy
    where = location(subject, path, precise=verdict is not PASS)
    name, resource, severity = rule.rule.name, subject.resource, p.severity
    category, controls = p.category, p.controls
    return Result(p.id, name, resource, verdict, severity, message, where, fix, "", category, controls, code)


def failing_result(
    policy: CompiledPolicy,
    rule: CompiledRule,
    subject: subjects.Subject,
    message: str,
    path: str,
    *,
    item_path: str = "",
    code: str = "",
) -> Result:
    verdict = WARN if rule.rule.verdict_on_fail == "warn" else FAIL
    fix = fix_of(rule, subject, item_path)
    return make_result(policy, rule, subject, verdict, message, path, fix=fix, code=code)


def fix_of(rule: CompiledRule, subject: subjects.Subject, item_path: str) -> dict[str, Any] | None:
    fix = rule.rule.fix
    if fix is None:
        return None
    target = subjects.resolve_path(fix.path, subject, item_path=item_path) if fix.path else item_path
    return {
        "path": target,
        "merge": dict(fix.merge),
        "remove": list(fix.remove),
        "safe": fix.safe,
        "description": fix.description,
    }


def error_result(
    policy: CompiledPolicy,
    rule: str,
    subject: subjects.Subject,
    message: str,
    path: str,
    *,
    code: str = CEL_EVAL,
) -> Result:
    p = policy.policy
    return Result(
        policy=p.id,
        rule=rule,
        resource=subject.resource,
        verdict=ERROR,
        severity=p.severity,
        message=message,
        location=location(subject, path),
        category=p.category,
        controls=p.controls,
        code=code,
    )
