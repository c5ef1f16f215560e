"""JUnit XML for CI test tabs: one testsuite per policy, one testcase per rule and resource.

Called by ``reports.render_report`` for the ``junit`` format. A testcase holds every result of
its rule on its resource (one per ``forEach`` item); the most serious of them decides its outcome.
"""

from __future__ import annotations

import enum
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime

from leitplanke.core.policies import BrokenPolicy, Policy
from leitplanke.core.problems import Level, Problem
from leitplanke.core.results import Result, ScanReport, Verdict
from leitplanke.reports import summaries

PROBLEMS_SUITE = "leitplanke:problems"  # ':' keeps it apart from every policy id
POLICY_BROKEN = "policy-broken"  # the error type of the testcase of a policy that could not run


class Outcome(enum.IntEnum):
    """Ordered most serious first; a waived result is reported as skipped, like an xfail."""

    FAILURE = 0
    ERROR = 1
    WAIVED = 2
    WARNED = 3
    PASSED = 4
    SKIPPED = 5


def render(report: ScanReport, *, policies: Mapping[str, Policy], now: datetime) -> str:
    """The report as a ``<testsuites>`` document with an XML declaration, ending in a newline."""
    timestamp = summaries.utc(now).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", {"name": "leitplanke"})
    by_policy: dict[str, list[Result]] = {}
    for result in summaries.ordered(report):
        by_policy.setdefault(result.policy, []).append(result)
    # a named policy that could not run: an erring testcase in its own suite, not among problems
    broken = {b.name: b for b in report.broken if b.name}
    owned = {problem for b in broken.values() for problem in b.problems}
    for policy_id in sorted(by_policy.keys() | broken.keys()):
        suite = _policy_suite(policy_id, by_policy.get(policy_id, ()), policies.get(policy_id), timestamp)
        if policy_id in broken:
            suite.insert(1 if policy_id in policies else 0, _broken_case(broken[policy_id]))
        root.append(suite)
    problems = sorted(p for p in report.problems if p not in owned)
    if problems:
        root.append(_problem_suite(problems, timestamp))
    _set_totals(root, list(root))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def outcome(result: Result) -> Outcome:
    if result.waiver:
        return Outcome.WAIVED
    return {
        Verdict.FAIL: Outcome.FAILURE,
        Verdict.ERROR: Outcome.ERROR,
        Verdict.WARN: Outcome.WARNED,
        Verdict.PASS: Outcome.PASSED,
        Verdict.SKIP: Outcome.SKIPPED,
    }[result.verdict]


def _policy_suite(
    policy_id: str, results: Sequence[Result], policy: Policy | None, timestamp: str
) -> ET.Element:
    suite = ET.Element("testsuite", {"name": policy_id, "timestamp": timestamp})
    if policy is not None:
        suite.append(_properties(policy))
    cases = sorted(results, key=_case_key)
    for _, group in itertools.groupby(cases, key=lambda r: (r.rule, r.resource)):
        suite.append(_testcase(policy_id, sorted(group, key=Result.sort_key)))
    return suite


def _case_key(result: Result) -> tuple[str, ...]:
    resource = result.resource
    return (result.rule, resource.display, resource.api_version, resource.domain)


def _properties(policy: Policy) -> ET.Element:
    properties = ET.Element("properties")
    values = {
        "title": policy.title,
        "severity": policy.severity.label,
        "category": policy.category,
        "controls": ", ".join(policy.controls),
    }
    for name, value in values.items():
        if value:
            ET.SubElement(properties, "property", {"name": name, "value": value})
    return properties


def _testcase(policy_id: str, results: Sequence[Result]) -> ET.Element:
    first = results[0]
    case = ET.Element(
        "testcase",
        {
            "classname": policy_id,
            "name": f"{first.rule}: {first.resource.display}",
            "file": first.location.file,
            "line": str(first.location.line),
            "time": "0",
        },
    )
    worst = min(outcome(result) for result in results)
    decisive = [result for result in results if outcome(result) is worst]
    if worst is Outcome.FAILURE:
        _outcome_element(case, "failure", decisive, kind=max(r.severity for r in decisive).label)
    elif worst is Outcome.ERROR:
        _outcome_element(case, "error", decisive, kind="error")
    elif worst in (Outcome.WAIVED, Outcome.SKIPPED):
        _outcome_element(case, "skipped", decisive, kind=worst.name.lower())
    warnings = [result for result in results if outcome(result) is Outcome.WARNED]
    if warnings:
        ET.SubElement(case, "system-out").text = "\n".join(_line(result) for result in warnings)
    return case


def _outcome_element(case: ET.Element, tag: str, results: Sequence[Result], *, kind: str) -> None:
    message = "; ".join(dict.fromkeys(_message(result) for result in results))
    element = ET.SubElement(case, tag, {"message": message, "type": kind})
    element.text = "\n".join(_line(result) for result in results)


def _message(result: Result) -> str:
    return result.message or result.verdict.value


def _line(result: Result) -> str:
    location = result.location
    where = f"{location.file}:{location.line}" if location.line else location.file
    path = f" {location.path}" if location.path else ""
    return f"{where}{path}: {result.verdict.value} [{result.severity.label}] {_message(result)}"


def _broken_case(broken: BrokenPolicy) -> ET.Element:
    case = ET.Element(
        "testcase",
        {
            "classname": broken.name,
            "name": f"{broken.name} could not run",
            "file": broken.file,
            "line": str(broken.line),
            "time": "0",
        },
    )
    text = "\n".join(problem.render() for problem in broken.problems)
    ET.SubElement(case, "error", {"message": broken.reason, "type": POLICY_BROKEN}).text = text
    return case


def _problem_suite(problems: Sequence[Problem], timestamp: str) -> ET.Element:
    # broken inputs fail the build too: each problem is a testcase of its own
    suite = ET.Element("testsuite", {"name": PROBLEMS_SUITE, "timestamp": timestamp})
    for problem in problems:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": PROBLEMS_SUITE,
                "name": f"{problem.code}: {problem.file}",
                "file": problem.file,
                "line": str(problem.line),
                "time": "0",
            },
        )
        if problem.level is Level.ERROR:
            ET.SubElement(
                case, "error", {"message": problem.message, "type": problem.code}
            ).text = problem.render()
        else:
            ET.SubElement(case, "system-out").text = problem.render()
    return suite


def _set_totals(root: ET.Element, suites: Sequence[ET.Element]) -> None:
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in suites:
        cases = suite.findall("testcase")
        counts = {
            "tests": len(cases),
            "failures": sum(1 for case in cases if case.find("failure") is not None),
            "errors": sum(1 for case in cases if case.find("error") is not None),
            "skipped": sum(1 for case in cases if case.find("skipped") is not None),
        }
        for name, count in counts.items():
            suite.set(name, str(count))
            totals[name] += count
        suite.set("time", "0")
    for name, count in totals.items():
        root.set(name, str(count))
    root.set("time", "0")
