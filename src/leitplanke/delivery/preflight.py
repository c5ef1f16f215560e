"""The pre-flight check of a change: the engine on its rendered manifests, judged by the environment.

``check`` parses the manifests (the sources' bounded YAML parser), evaluates each document through
the engine's door and says whether the change is blocked: failures at ``enforce``, and documents or
rules that cannot be evaluated when the environment's failure mode is ``closed``. A blocked change is
approved only under an approved waiver that covers every blocking failure (``covered``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitplanke import engine
from leitplanke.core.documents import Document
from leitplanke.core.problems import Problem
from leitplanke.core.results import Result, ScanReport, Verdict
from leitplanke.core.waivers import Waiver
from leitplanke.sources import parsing

MANIFEST_FILE = "manifests.yaml"
LIMITS = parsing.Limits(max_bytes=8 * 1024 * 1024, max_nodes=200_000)


@dataclass(slots=True)
class Outcome:
    mode: str
    failure_mode: str
    results: list[Result] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # manifests that could not be read
    documents: list[Document] = field(default_factory=list)

    @property
    def failing(self) -> list[Result]:
        return [r for r in self.results if r.verdict in (Verdict.FAIL, Verdict.WARN)]

    @property
    def errors(self) -> int:
        return sum(r.verdict is Verdict.ERROR for r in self.results) + len(self.problems)

    @property
    def blocking(self) -> bool:
        failing = self.mode == "enforce" and any(r.verdict is Verdict.FAIL for r in self.results)
        return failing or (self.errors > 0 and self.failure_mode == "closed")

    def as_dict(self) -> dict[str, Any]:
        """What the change keeps of it: the verdicts that matter, in the engine's order."""
        return {
            "mode": self.mode,
            "failureMode": self.failure_mode,
            "blocking": self.blocking,
            "documents": len(self.documents),
            "results": [_result(r) for r in self.results if r.verdict is not Verdict.PASS],
            "passed": sum(r.verdict is Verdict.PASS for r in self.results),
            "problems": [{"code": p.code, "message": p.message, "line": p.line} for p in self.problems],
        }


def _result(result: Result) -> dict[str, Any]:
    res = result.resource
    return {
        "policy": result.policy,
        "rule": result.rule,
        "resource": {
            "apiVersion": res.api_version,
            "kind": res.kind,
            "namespace": res.namespace,
            "name": res.name,
        },
        "verdict": result.verdict.value,
        "severity": result.severity.label,
        "message": result.message,
        "path": result.location.path,
        "waiver": result.waiver,
    }


def parse_manifests(manifests: str) -> tuple[list[Document], list[Problem]]:
    """The documents of a change's manifests and what could not be read (bounded: see ``LIMITS``)."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for item in parsing.parse_documents(manifests.encode("utf-8"), file=MANIFEST_FILE, limits=LIMITS):
        if isinstance(item, Document):
            documents.append(item)
        elif isinstance(item, Problem):
            problems.append(item)
    return documents, problems


def check(
    policy_set: engine.PolicySet,
    manifests: str,
    *,
    mode: str,
    failure_mode: str,
    environment: str,
    waivers: Sequence[Waiver] = (),
    now: datetime,
) -> Outcome:
    """Every document through ``engine.evaluate``; failures an active waiver covers become ``skip``."""
    documents, problems = parse_manifests(manifests)
    outcome = Outcome(mode=mode, failure_mode=failure_mode, problems=problems, documents=documents)
    context = engine.Context(environment=environment, dry_run=True)
    for document in documents:
        outcome.results.extend(engine.evaluate(policy_set, document, context=context))
    if waivers:
        report = ScanReport(results=outcome.results)
        engine.apply_waivers(report, waivers, now=now)
        outcome.results = report.results
    return outcome


def kinds_of(manifests: str) -> set[str]:
    """The kinds of the documents in ``manifests`` (unreadable ones left out)."""
    documents, _ = parse_manifests(manifests)
    return {str(d.kind) for d in documents if d.kind}
