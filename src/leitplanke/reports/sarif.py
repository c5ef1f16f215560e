"""SARIF 2.1.0, shaped for GitHub code scanning: one rule per (policy, rule), one result per finding.

Called by ``reports.render_report`` for the ``sarif`` format. Fail, warn and error results are
written, and waived ones with a suppression; problems become tool execution notifications, those
of policies that could not run tool configuration notifications. The
mappings are in ``LEVELS`` and ``_level``: an ``error`` verdict is a result of kind ``open``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import quote

import orjson
import yaml

from leitplanke.core.policies import BrokenPolicy, Policy, Rule, Severity
from leitplanke.core.problems import Level, Problem
from leitplanke.core.results import Location, Result, ScanReport, Verdict
from leitplanke.reports import jsonreports, jsonstreaming, summaries

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "leitplanke"
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT_KEY = "leitplankeFinding/v1"
# a policy is a deterministic check of the configuration itself, not a heuristic
PRECISION = "very-high"

LEVELS: Mapping[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub's scale: 9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low
SECURITY_SEVERITIES: Mapping[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_DRIVE = re.compile(r"^[A-Za-z]:/")


def render(report: ScanReport, *, policies: Mapping[str, Policy], now: datetime) -> str:
    """One SARIF log with one run, as indented JSON with sorted keys, ending in a newline."""
    buffer = io.StringIO()
    write(report, buffer, policies=policies, now=now)
    return buffer.getvalue()


def write(report: ScanReport, out: TextIO, *, policies: Mapping[str, Policy], now: datetime) -> None:
    """Write the log to ``out`` a chunk of results at a time, so memory stays bounded."""
    rules = _rules(report, policies)
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    results = (
        _result(result, index[rule_id(result.policy, result.rule)], _level(result, policies))
        for result in summaries.ordered(report)
        if summaries.is_finding(result)
    )
    run = {
        "tool": {"driver": {"name": TOOL_NAME, "rules": rules}},
        "columnKind": "unicodeCodePoints",
        "invocations": [_invocation(report, now)],
        "results": jsonstreaming.PLACEHOLDER,
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    jsonstreaming.write_with_array(log, results, out, depth=3)


def rule_id(policy: str, rule: str) -> str:
    return f"{policy}/{rule}"


def fingerprint(result: Result) -> str:
    """Stable across scans and line moves: policy, rule, resource identity and field path."""
    resource = result.resource
    identity = f"{resource.api_version}/{resource.kind}/{resource.namespace}/{resource.name}"
    text = "\x1f".join((result.policy, result.rule, identity, result.location.path))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def artifact_uri(file: str) -> str:
    """A valid URI reference for ``file``: relative paths stay relative, with forward slashes.

    Absolute paths become ``file://`` URIs; pseudo-files such as ``<stdin>`` are percent-encoded.
    """
    path = file.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    if path.startswith("/"):
        return "file://" + quote(path)
    if _DRIVE.match(path):
        return "file:///" + quote(path, safe="/:")
    return quote(path)


def _rules(report: ScanReport, policies: Mapping[str, Policy]) -> list[dict[str, Any]]:
    # every rule of the given policies, plus any rule a result names that they do not describe
    descriptors = {
        rule_id(policy.id, rule.name): _descriptor(policy, rule)
        for policy in policies.values()
        for rule in policy.rules
    }
    for result in summaries.ordered(report):
        key = rule_id(result.policy, result.rule)
        if key not in descriptors:
            descriptors[key] = _descriptor_from_result(result)
    return [descriptors[key] for key in sorted(descriptors)]


def _descriptor(policy: Policy, rule: Rule) -> dict[str, Any]:
    level = "warning" if rule.verdict_on_fail == Verdict.WARN else LEVELS[policy.severity]
    title = policy.title or rule_id(policy.id, rule.name)
    description = policy.description or title
    return {
        "id": rule_id(policy.id, rule.name),
        "name": rule.name,
        "shortDescription": {"text": title},
        "fullDescription": {"text": description},
        "help": _help(description, policy.remediation, policy.controls),
        "defaultConfiguration": {"level": level},
        "properties": _rule_properties(policy.severity, policy.category, policy.controls),
    }


def _descriptor_from_result(result: Result) -> dict[str, Any]:
    title = rule_id(result.policy, result.rule)
    return {
        "id": title,
        "name": result.rule,
        "shortDescription": {"text": title},
        "fullDescription": {"text": title},
        "help": _help(title, "", result.controls),
        "defaultConfiguration": {"level": LEVELS[result.severity]},
        "properties": _rule_properties(result.severity, result.category, result.controls),
    }


def _help(description: str, remediation: str, controls: tuple[str, ...]) -> dict[str, str]:
    text, markdown = [description], [description]
    if remediation:
        text.append(f"Remediation: {remediation}")
        markdown.append(f"**Remediation:** {remediation}")
    if controls:
        text.append("Controls: " + ", ".join(controls))
        markdown.append("**Controls:** " + ", ".join(f"`{control}`" for control in controls))
    return {"text": "\n\n".join(text), "markdown": "\n\n".join(markdown)}


def _rule_properties(severity: Severity, category: str, controls: tuple[str, ...]) -> dict[str, Any]:
    # GitHub reads security-severity only from rules tagged "security"
    tags = list(dict.fromkeys(tag for tag in ("security", category, *controls) if tag))
    return {"tags": tags, "security-severity": SECURITY_SEVERITIES[severity], "precision": PRECISION}


def _result(result: Result, rule_index: int, kind_and_level: tuple[str, str]) -> dict[str, Any]:
    kind, level = kind_and_level
    sarif: dict[str, Any] = {
        "ruleId": rule_id(result.policy, result.rule),
        "ruleIndex": rule_index,
        "kind": kind,
        "level": level,
        "message": {"text": result.message or rule_id(result.policy, result.rule)},
        "locations": [_location(result)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(result)},
        "properties": {"verdict": result.verdict.value, "severity": result.severity.label},
    }
    if result.waiver:
        justification = f"Waived by waiver {result.waiver}."
        sarif["suppressions"] = [{"kind": "external", "status": "accepted", "justification": justification}]
    if result.fix is not None:
        sarif["fixes"] = [_fix(result.fix, result.location)]
    return sarif


def _level(result: Result, policies: Mapping[str, Policy]) -> tuple[str, str]:
    """``(kind, level)``: SARIF allows a level other than ``none`` only on kind ``fail``.

    An error is ``open``: the rule ran and could not decide. A waived result (``skip`` from the
    engine) keeps the level it would have had, which its rule's ``verdict_on_fail`` tells.
    """
    if result.verdict is Verdict.ERROR:
        return "open", "none"
    if result.verdict is Verdict.WARN or (result.waiver and _warns(result, policies)):
        return "fail", "warning"
    return "fail", LEVELS[result.severity]


def _warns(result: Result, policies: Mapping[str, Policy]) -> bool:
    policy = policies.get(result.policy)
    rules = policy.rules if policy else ()
    return any(rule.name == result.rule and rule.verdict_on_fail == Verdict.WARN for rule in rules)


def _location(result: Result) -> dict[str, Any]:
    resource, path = result.resource, result.location.path
    logical = {
        "name": path or resource.display,
        "fullyQualifiedName": f"{resource.display}:{path}" if path else resource.display,
        "kind": "object" if not path else "element" if path.endswith("]") else "property",
    }
    return {
        "physicalLocation": _physical(result.location.file, result.location.line),
        "logicalLocations": [logical],
    }


def _physical(file: str, line: int, column: int = 0) -> dict[str, Any]:
    region: dict[str, int] = {"startLine": max(line, 1)}
    if column > 0:
        region["startColumn"] = column
    return {"artifactLocation": _artifact(file), "region": region}


def _artifact(file: str) -> dict[str, str]:
    uri = artifact_uri(file)
    is_pseudo = file.startswith("<") and file.endswith(">")
    if is_pseudo or uri.startswith("file:"):
        return {"uri": uri}
    return {"uri": uri, "uriBaseId": SOURCE_ROOT}


def _fix(fix: Mapping[str, Any], location: Location) -> dict[str, Any]:
    """The fix, described; its text change is advisory, since a merge patch is structural.

    The patch as YAML is inserted before the target's line; ``leitplanke fix`` applies it properly.
    """
    merge = jsonreports.plain(fix.get("merge", {}))
    remove = [str(key) for key in fix.get("remove", ())]
    target = str(fix.get("path", "")) or location.path or "the document"
    steps = [f"merge {_flow_yaml(merge)}"] if merge else []
    steps += [f"remove {', '.join(remove)}"] if remove else []
    line = max(location.line, 1)
    replacement: dict[str, Any] = {
        "deletedRegion": {"startLine": line, "startColumn": 1, "endLine": line, "endColumn": 1}
    }
    if merge:
        replacement["insertedContent"] = {"text": _yaml(merge, flow=False)}
    change = {"artifactLocation": _artifact(location.file), "replacements": [replacement]}
    description = f"At {target}: {'; '.join(steps) or 'no change'}"
    return {"description": {"text": description}, "artifactChanges": [change]}


def _flow_yaml(value: Any) -> str:
    return _yaml(value, flow=True)


def _yaml(value: Any, *, flow: bool) -> str:
    """``value`` as YAML; a policy's fix is the same patch for every finding, so it is cached."""
    try:
        key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON: dump it as it is
        return _dump(value, flow=flow)
    return _cached_yaml(key, flow=flow)


@functools.lru_cache(maxsize=1024)
def _cached_yaml(value: bytes, *, flow: bool) -> str:
    return _dump(orjson.loads(value), flow=flow)


def _dump(value: Any, *, flow: bool) -> str:
    if flow:
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return yaml.safe_dump(value, default_flow_style=False)


def _invocation(report: ScanReport, now: datetime) -> dict[str, Any]:
    problems = sorted(report.problems)
    # a policy that could not run is a problem of the tool's configuration, not of its execution
    owned = {problem for broken in report.broken for problem in broken.problems}
    invocation: dict[str, Any] = {
        # a scan goes on past broken inputs and policies, but then it has not checked everything
        "executionSuccessful": not any(problem.level is Level.ERROR for problem in problems),
        "endTimeUtc": summaries.rfc3339(now),
        "toolExecutionNotifications": [
            _notification(problem) for problem in problems if problem not in owned
        ],
    }
    if report.broken:
        invocation["toolConfigurationNotifications"] = [
            _broken_notification(broken, problem) for broken in report.broken for problem in broken.problems
        ]
    return invocation


def _broken_notification(broken: BrokenPolicy, problem: Problem) -> dict[str, Any]:
    """One problem of a policy that could not run, naming the policy."""
    notification = _notification(problem)
    name = f"policy {broken.name}" if broken.name else f"the policies of {broken.file}"
    notification["message"]["text"] = f"{name} could not run: {notification['message']['text']}"
    notification["properties"] = {"policy": broken.name, "policyKind": broken.kind}
    return notification


def _notification(problem: Problem) -> dict[str, Any]:
    message = f"{problem.message} [{problem.field}]" if problem.field else problem.message
    return {
        "level": problem.level.value,
        "message": {"text": message},
        "descriptor": {"id": problem.code},
        "locations": [{"physicalLocation": _physical(problem.file, problem.line, problem.column)}],
    }
