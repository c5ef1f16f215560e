"""Pre-flight: a template's rendered manifests checked by the engine before anything is created.

The rendered files are parsed by ``sources.parsing`` (as ``scan`` parses files) and scanned
through the engine's public door with every built-in pack, so set-level rules (a PDB, a
default-deny NetworkPolicy) see the whole set; the environment's mode decides what a failure means.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitplanke import engine
from leitplanke.catalog import templating
from leitplanke.core.documents import Document
from leitplanke.core.problems import Problem
from leitplanke.core.results import Result, Verdict
from leitplanke.engine import loading
from leitplanke.sources import parsing

MODES = ("audit", "warn", "enforce")
_FAILING = (Verdict.FAIL, Verdict.ERROR)


@dataclass(frozen=True, slots=True)
class Preflight:
    """The verdict on a rendered set: ``outcome`` is pass when nothing fails; otherwise what the
    environment's ``mode`` makes of it: deny (enforce), warn (warn) or audit (recorded only)."""

    mode: str
    outcome: str  # pass | audit | warn | deny
    results: tuple[Result, ...]  # every result, in report order
    problems: tuple[Problem, ...] = ()  # what could not be parsed or run
    policies: int = 0

    @property
    def allowed(self) -> bool:
        return self.outcome != "deny"

    @property
    def failing(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.verdict in _FAILING)

    @property
    def warnings(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.verdict == Verdict.WARN)


@dataclass(slots=True)
class Checker:
    """All built-in packs (``packs``: a choice of them), compiled on first use and kept: one
    per process, shared by the service's requests (the lock keeps the compile to one)."""

    packs: tuple[str, ...] = ()
    _policy_set: engine.PolicySet | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def policy_set(self, *, now: datetime) -> engine.PolicySet:
        with self._lock:
            if self._policy_set is None:
                names = self.packs or tuple(loading.available_packs())
                loaded = loading.load_packs(names, now=now)
                options = engine.CompileOptions(foreign=tuple(loaded.foreign), broken=tuple(loaded.broken))
                self._policy_set = engine.compile(loaded.policies, options=options)
            return self._policy_set

    def check(
        self, files: Sequence[templating.RenderedFile], *, mode: str, environment: str, now: datetime
    ) -> Preflight:
        """Scan the rendered ``files`` and judge the results by ``mode``."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: use one of {', '.join(MODES)}")
        policy_set = self.policy_set(now=now)
        sink = engine.Collected()
        scanned = engine.scan(
            policy_set,
            [(f.name, f.text.encode("utf-8")) for f in files],
            sink,
            load=_load,
            now=now,
            jobs=1,
            context=engine.Context(environment=environment),
        )
        results = tuple(sink.results)
        problems = tuple(scanned.problems) + tuple(policy_set.problems)
        return Preflight(
            mode=mode,
            outcome=_outcome(results, problems, mode=mode),
            results=results,
            problems=problems,
            policies=len(policy_set.policies),
        )


def _load(source: tuple[str, bytes]) -> Iterable[parsing.Output]:
    """A rendered file's documents, as ``scan`` reads a file (a module function: picklable)."""
    name, data = source
    return parsing.parse_documents(data, file=name)


def documents_of(files: Sequence[templating.RenderedFile]) -> tuple[list[Document], list[Problem]]:
    """The rendered files parsed into Documents, and what could not be parsed."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for file in files:
        for output in parsing.parse_documents(file.text.encode("utf-8"), file=file.name):
            if isinstance(output, Document):
                documents.append(output)
            elif isinstance(output, Problem):
                problems.append(output)
            else:
                problems.append(
                    Problem(file.name, 0, "not-kubernetes", "a document without apiVersion or kind")
                )
    return documents, problems


def _outcome(results: Sequence[Result], problems: Sequence[Problem], *, mode: str) -> str:
    if not any(r.verdict in _FAILING for r in results) and not _errors(problems):
        return "pass"
    return {"enforce": "deny", "warn": "warn", "audit": "audit"}[mode]


def _errors(problems: Sequence[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]


def result_dict(result: Result) -> dict[str, Any]:
    """One result as the API and ``--check`` show it."""
    return {
        "policy": result.policy,
        "rule": result.rule,
        "verdict": result.verdict.value,
        "severity": result.severity.name.lower(),
        "resource": result.resource.display,
        "message": result.message,
        "file": result.location.file,
        "line": result.location.line,
        "path": result.location.path,
    }
