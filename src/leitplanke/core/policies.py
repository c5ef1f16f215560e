"""Policies and rules as plain values, before compilation.

Loaded from YAML by ``engine.loading``; compiled by ``engine.compiling``.
Policy and rule ids are data, never class names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.problems import Problem


class Severity(enum.IntEnum):
    """Ordered so that ``>=`` compares seriousness."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.strip().upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a policy (or one of its fields) was written."""

    file: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Match:
    """Which documents a policy applies to. Empty tuples mean "any"."""

    kinds: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    exclude_namespaces: tuple[str, ...] = ()
    label_selector: Mapping[str, Any] = field(default_factory=dict)
    condition: str = ""  # CEL, true means the policy applies
    domains: tuple[str, ...] = ("kubernetes",)


@dataclass(frozen=True, slots=True)
class Fix:
    """A mechanical change that makes a failing rule pass.

    ``merge`` is a JSON merge patch applied at ``path`` (relative to the item
    of a ``forEach`` rule, or to the document); ``remove`` lists keys to delete.
    ``safe`` says that applying it keeps what the workload does in every case the rule
    fails (it writes down a value Kubernetes assumes anyway); an unsafe fix is applied only
    when asked (``fix --unsafe-fixes``). Unset means unsafe: a fix is trusted only when its
    author says so. ``description`` says what the change does, for the reviewer of the diff.
    """

    merge: Mapping[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    path: str = ""
    safe: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class ScalarText:
    """A scalar of a policy file as written: ``text`` from its first character (a quote, ``|``
    or ``>``) to its end, which starts at 0-based ``line`` and ``column``; ``style`` as YAML
    names it (``""`` plain, ``'``, ``"``, ``|``, ``>``)."""

    text: str
    line: int
    column: int
    style: str


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    validate: str
    # plain text with {{ expr }}, or CEL (see ``engine.messages``); ``message_expression``:
    # written as messageExpression, always CEL
    message: str = ""
    message_expression: bool = False
    for_each: str = ""
    path: str = ""  # field path of the offending field: "item.x", "podSpec.x" or document-relative
    fix: Fix | None = None
    # set-level: the kinds of the other documents of the scan the rule sees as `documents`
    collect: tuple[str, ...] = ()
    # "namespace": a subject sees the collected documents of its own namespace (a Namespace
    # object counts as in itself); "cluster": every collected document of the scan
    collect_scope: str = "namespace"
    # kinds among ``collect`` that are seen from every namespace whatever the scope
    collect_cluster: tuple[str, ...] = ()
    # CEL over ``item`` (a collected document), ``subjectNamespace`` and ``documents`` (all
    # the candidates): only the documents it holds for are in the rule's ``documents``.
    # Evaluated once per document and namespace, not per subject, so that work does not
    # grow with the subjects of a namespace.
    collect_filter: str = ""
    # name -> CEL over ``documents`` (all the candidates) and ``subjectNamespace``, evaluated
    # once per namespace; ``variables.<name>`` in collectFilter, validate and message. A
    # filter or a rule that would search every document for every subject searches what a
    # variable kept once instead (the monitors that can scrape the namespace, say).
    collect_variables: Mapping[str, str] = field(default_factory=dict)
    verdict_on_fail: str = "fail"  # "fail" or "warn"
    source: SourceRef = field(default_factory=lambda: SourceRef(""))
    index: int = 0
    # line where each CEL field's text begins (validate, message, forEach, collectFilter), for
    # compile errors
    lines: Mapping[str, int] = field(default_factory=dict)
    # each of those fields as written, so that a compile error names the file's column
    texts: Mapping[str, ScalarText] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    title: str
    severity: Severity
    rules: tuple[Rule, ...]
    match: Match = field(default_factory=Match)
    category: str = ""
    controls: tuple[str, ...] = ()
    description: str = ""
    remediation: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    pack: str = ""
    enabled: bool = True
    condition_line: int = 0
    condition_text: ScalarText | None = None
    source: SourceRef = field(default_factory=lambda: SourceRef(""))

    @property
    def is_set_level(self) -> bool:
        return any(rule.collect for rule in self.rules)


@dataclass(frozen=True, slots=True)
class BrokenPolicy:
    """A policy that could not be read, converted or compiled, and so does not run.

    ``name`` is its id ("" when the document names none, or the file is not YAML at all);
    ``kind`` what it was written as (``Policy``, ``ClusterPolicy``, a constraint's kind, …);
    ``policy`` what is known of it when it was read: the documents it matches then get an
    ``error`` result for it, never a silent pass. Its problems say why, with file and line.
    """

    name: str
    kind: str
    file: str
    line: int
    problems: tuple[Problem, ...]
    policy: Policy | None = None

    @property
    def reason(self) -> str:
        """The first problem, with where it is, and how many more there are."""
        first = self.problems[0]
        where = f"{first.file}:{first.line}" if first.line else first.file
        if first.column:
            where += f":{first.column}"
        field = f" [{first.field}]" if first.field else ""
        more = len(self.problems) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        return f"{where}{field}: {first.code}: {first.message}{tail}"
