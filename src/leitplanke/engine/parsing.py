"""Parsing native policy and waiver documents into ``core`` values, every authoring problem
collected with its file, line and field.

Pure (a read YAML document in, values and problems out). ``loading`` calls it for every
native document; ``configuring`` and the test-suite readers use ``Fields`` for their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from leitplanke.core import documents
from leitplanke.core.policies import Fix, Match, Policy, Rule, Severity, SourceRef
from leitplanke.core.problems import Level, Problem
from leitplanke.core.waivers import Waiver, WaiverScope, expiry_text
from leitplanke.engine import yamlnodes

DEFAULT_MAX_WAIVER_DAYS = 90


class Fields:
    """Typed access to one document's fields that records a Problem per bad field."""

    def __init__(self, doc: yamlnodes.YamlDocument, file: str, problems: list[Problem]) -> None:
        self.doc = doc
        self.file = file
        self.problems = problems

    def problem(self, path: str, code: str, message: str, level: Level = Level.ERROR) -> None:
        line = self.doc.line_of(path)
        self.problems.append(Problem(self.file, line, code, message, field=path, level=level))

    def get(self, path: str) -> Any:
        node: Any = self.doc.data
        for part in documents.parse_path(path):
            if isinstance(part, str) and isinstance(node, dict):
                node = node.get(part)
            elif isinstance(part, int) and isinstance(node, list) and part < len(node):
                node = node[part]
            else:
                return None
        return node

    def text(self, path: str, *, required: bool = False, default: str = "") -> str:
        value = self.get(path)
        if value is None:
            if required:
                self.problem(path, "missing-field", f"{path} is required")
            return default
        if not isinstance(value, str | int | float | bool):
            self.problem(path, "invalid-field", f"{path} must be a string")
            return default
        return str(value)

    def strings(self, path: str) -> tuple[str, ...]:
        value = self.get(path)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            self.problem(path, "invalid-field", f"{path} must be a list of strings")
            return ()
        return tuple(str(v) for v in value)

    def mapping(self, path: str) -> dict[str, Any]:
        value = self.get(path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, "invalid-field", f"{path} must be a mapping")
            return {}
        return value


def parse_policy(
    doc: yamlnodes.YamlDocument, *, file: str, problems: list[Problem], pack: str = ""
) -> Policy | None:
    f = Fields(doc, file, problems)
    before = len(problems)
    name = f.text("metadata.name", required=True)
    severity = read_severity(f, "spec.severity")
    rules = tuple(_rules(f))
    if not rules and f.get("spec.rules") is None:
        f.problem("spec.rules", "missing-field", "spec.rules is required")
    params = f.mapping("spec.params")
    if len(problems) > before and any(p.level is Level.ERROR for p in problems[before:]):
        return None
    return Policy(
        id=name,
        title=f.text("spec.title", default=name),
        severity=severity,
        rules=rules,
        match=_match(f),
        category=f.text("spec.category"),
        controls=f.strings("spec.controls"),
        description=f.text("spec.description"),
        remediation=f.text("spec.remediation"),
        params=params,
        pack=pack,
        condition_line=doc.content_line("spec.match.condition"),
        condition_text=doc.scalar_text("spec.match.condition"),
        source=SourceRef(file, doc.line_of("")),
    )


def read_severity(f: Fields, path: str) -> Severity:
    text = f.text(path, default="medium")
    try:
        return Severity.parse(text)
    except KeyError:
        allowed = ", ".join(s.label for s in sorted(Severity, reverse=True))
        f.problem(path, "invalid-severity", f"unknown severity {text!r}; use one of {allowed}")
        return Severity.MEDIUM


def _match(f: Fields) -> Match:
    kinds = f.strings("spec.match.kinds")
    pod_spec = f.get("spec.match.podSpec") is True
    if pod_spec:
        kinds = tuple(dict.fromkeys((*kinds, *documents.POD_KINDS)))
    return Match(
        kinds=kinds,
        api_groups=f.strings("spec.match.apiGroups"),
        namespaces=f.strings("spec.match.namespaces"),
        exclude_namespaces=f.strings("spec.match.excludeNamespaces"),
        label_selector=f.mapping("spec.match.selector"),
        condition=f.text("spec.match.condition"),
        domains=f.strings("spec.match.domains") or ("kubernetes",),
    )


def _rules(f: Fields) -> Iterator[Rule]:
    raw = f.get("spec.rules")
    if raw is None:
        return
    if not isinstance(raw, list) or not raw:
        f.problem("spec.rules", "invalid-field", "spec.rules must be a non-empty list")
        return
    seen: set[str] = set()
    for index in range(len(raw)):
        base = f"spec.rules[{index}]"
        if not isinstance(raw[index], dict):
            f.problem(base, "invalid-field", "a rule must be a mapping")
            continue
        name = f.text(f"{base}.name", required=True)
        if name in seen:
            f.problem(f"{base}.name", "duplicate-rule", f"rule {name!r} is defined twice")
        seen.add(name)
        scope = f.text(f"{base}.collectScope", default="namespace")
        if scope not in ("namespace", "cluster"):
            f.problem(f"{base}.collectScope", "invalid-field", "collectScope must be namespace or cluster")
        action = f.text(f"{base}.action", default="fail")
        if action not in ("fail", "warn"):
            f.problem(f"{base}.action", "invalid-field", "action must be fail or warn")
        message, expression = f.text(f"{base}.message"), f.text(f"{base}.messageExpression")
        if message and expression:
            f.problem(
                f"{base}.messageExpression", "invalid-field", "give message or messageExpression, not both"
            )
        variables = (f"collectVariables.{name}" for name in f.mapping(f"{base}.collectVariables"))
        keys = ("validate", "message", "messageExpression", "forEach", "collectFilter", *variables)
        yield Rule(
            name=name,
            validate=f.text(f"{base}.validate", required=True),
            message=expression or message,
            message_expression=bool(expression),
            for_each=f.text(f"{base}.forEach"),
            path=f.text(f"{base}.path"),
            fix=_fix(f, f"{base}.fix"),
            collect=tuple(
                dict.fromkeys((*f.strings(f"{base}.collect"), *f.strings(f"{base}.collectCluster")))
            ),
            collect_scope=scope,
            collect_cluster=f.strings(f"{base}.collectCluster"),
            collect_filter=f.text(f"{base}.collectFilter"),
            collect_variables=_collect_variables(f, f"{base}.collectVariables"),
            verdict_on_fail=action,
            source=SourceRef(f.file, f.doc.line_of(base)),
            index=index,
            lines={key: f.doc.content_line(f"{base}.{key}") for key in keys},
            texts={key: text for key in keys if (text := f.doc.scalar_text(f"{base}.{key}")) is not None},
        )


def _collect_variables(f: Fields, path: str) -> dict[str, str]:
    raw = f.mapping(path)
    variables: dict[str, str] = {}
    for name, source in raw.items():
        if not (isinstance(name, str) and _IDENTIFIER.fullmatch(name)):
            message = f"{path}: {name!r} is not a name CEL can read (letters, digits, _)"
            f.problem(path, "invalid-field", message)
        elif not isinstance(source, str) or not source.strip():
            f.problem(f"{path}.{name}", "invalid-field", f"{path}.{name} must be a CEL expression")
        else:
            variables[name] = source
    if variables and not f.strings(path.rsplit(".", 1)[0] + ".collect"):
        message = f"{path} needs collect: it is evaluated over the collected documents"
        f.problem(path, "invalid-field", message)
    return variables


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


FIX_KEYS = ("merge", "remove", "path", "safe", "description")


def _fix(f: Fields, path: str) -> Fix | None:
    raw = f.get(path)
    if raw is None:
        return None
    if not isinstance(raw, dict) or not ({"merge", "remove"} & raw.keys()):
        f.problem(path, "invalid-fix", "fix must be a mapping with merge and/or remove")
        return None
    for key in sorted(set(map(str, raw)) - set(FIX_KEYS)):
        f.problem(
            f"{path}.{key}", "invalid-fix", f"{path}: unknown key {key!r}; a fix has {', '.join(FIX_KEYS)}"
        )
    safe = raw.get("safe", False)
    if not isinstance(safe, bool):
        message = (
            f"{path}.safe must be true or false (true: applying the fix keeps what the workload does; "
            "false: it changes behaviour and is applied only with fix --unsafe-fixes)"
        )
        f.problem(f"{path}.safe", "invalid-fix", message)
    description = raw.get("description", "")
    if not isinstance(description, str):
        f.problem(f"{path}.description", "invalid-fix", f"{path}.description must be a sentence (a string)")
    return Fix(
        merge=f.mapping(f"{path}.merge"),
        remove=f.strings(f"{path}.remove"),
        path=f.text(f"{path}.path"),
        safe=safe is True,
        description=" ".join(description.split()) if isinstance(description, str) else "",
    )


def parse_waiver(
    doc: yamlnodes.YamlDocument, *, file: str, problems: list[Problem], now: datetime, max_days: int
) -> Waiver | None:
    f = Fields(doc, file, problems)
    before = len(problems)
    name = f.text("metadata.name", required=True)
    policies = f.strings("spec.policies")
    if not policies:
        f.problem("spec.policies", "missing-field", "a waiver must name the policies it covers")
    scopes = tuple(_scopes(f))
    if not scopes:
        f.problem(
            "spec.match", "missing-field", "a waiver needs an explicit match (kinds, namespaces, names)"
        )
    expires = _expiry(f, now=now, max_days=max_days)
    reason = f.text("spec.reason", required=True)
    owner = f.text("spec.owner", required=True)
    approver = f.text("spec.approver", required=True)
    if len(problems) > before or expires is None:
        return None
    return Waiver(
        name=name,
        policies=policies,
        rules=f.strings("spec.rules"),
        scopes=scopes,
        reason=reason,
        owner=owner,
        approver=approver,
        requester=f.text("spec.requester"),
        expires=expires,
        source=SourceRef(file, doc.line_of("")),
    )


def _scopes(f: Fields) -> Iterator[WaiverScope]:
    raw = f.get("spec.match")
    entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    if raw is not None and not entries:
        f.problem("spec.match", "invalid-field", "spec.match must be a mapping or a list of mappings")
    for index, _ in enumerate(entries):
        base = f"spec.match[{index}]" if isinstance(raw, list) else "spec.match"
        scope = WaiverScope(
            kinds=f.strings(f"{base}.kinds"),
            namespaces=f.strings(f"{base}.namespaces"),
            names=f.strings(f"{base}.names"),
        )
        if not (scope.kinds or scope.namespaces or scope.names):
            f.problem(base, "invalid-field", "a waiver match must name kinds, namespaces or names")
            continue
        yield scope


def _expiry(f: Fields, *, now: datetime, max_days: int) -> datetime | None:
    raw = f.get("spec.expires")
    if raw is None:
        f.problem("spec.expires", "missing-expiry", "a waiver must expire (spec.expires)")
        return None
    expires = parse_timestamp(raw)
    if expires is None:
        f.problem("spec.expires", "invalid-field", f"spec.expires {raw!r} is not a date or timestamp")
        return None
    if expires - now > timedelta(days=max_days):
        f.problem(
            "spec.expires",
            "expiry-too-far",
            f"expires {expiry_text(expires)}, more than {max_days} days from now",
        )
        return None
    return expires


def parse_timestamp(raw: object) -> datetime | None:
    """A date (end of that day, UTC) or an ISO 8601 timestamp (naive means UTC)."""
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC) + timedelta(days=1)
    if isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            try:
                return parse_timestamp(date.fromisoformat(raw))
            except ValueError:
                return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
