"""The compliance view: per control of one framework, how many resources hold it, fail it or are waived.

Built from a ScanReport and the ``controls`` of the policies; called by ``leitplanke scan --compliance``,
which prints it after the table or adds it to the JSON report under ``compliance``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from leitplanke.core.policies import Policy
from leitplanke.core.results import Resource, Result, ScanReport, Verdict
from leitplanke.reports import jsonreports

if TYPE_CHECKING:
    from rich.text import Text

# framework → the prefixes of its control ids; the restricted profile includes the baseline one
FRAMEWORKS: Mapping[str, tuple[str, ...]] = {
    "pss-restricted": ("PSS:baseline/", "PSS:restricted/"),
    "pss-baseline": ("PSS:baseline/",),
    "cis": ("CIS-K8s:",),
    "nsa": ("NSA-K8s:",),
    "cks": ("CKS:",),
}
FRAMEWORK_NAMES: Mapping[str, str] = {
    "pss-restricted": "Pod Security Standards, restricted profile, baseline included",
    "pss-baseline": "Pod Security Standards, baseline profile",
    "cis": "CIS Kubernetes Benchmark",
    "nsa": "NSA/CISA Kubernetes Hardening Guidance",
    "cks": "Certified Kubernetes Security Specialist domains",
}
FAILING = frozenset({Verdict.FAIL, Verdict.WARN, Verdict.ERROR})
# a document: results of one document share its file and index; the resource tells apart List items
DocumentKey = tuple[str, int, Resource]


@dataclass(frozen=True, slots=True)
class Tally:
    """Resources checked against a control (or all controls), by outcome.

    ``waived``: no failing result, at least one failure suppressed by a waiver. An exception is
    not compliance: ``percent`` is ``passing / checked`` and the waived resources show on their own.
    """

    checked: int = 0
    passing: int = 0
    failing: int = 0
    waived: int = 0

    @property
    def percent(self) -> float | None:
        return round(100 * self.passing / self.checked, 1) if self.checked else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.checked + other.checked,
            self.passing + other.passing,
            self.failing + other.failing,
            self.waived + other.waived,
        )


@dataclass(frozen=True, slots=True)
class ControlStatus:
    id: str
    title: str  # the titles of the policies that implement the control
    tally: Tally


@dataclass(frozen=True, slots=True)
class Compliance:
    framework: str
    controls: tuple[ControlStatus, ...]
    resources: int  # distinct resources checked against at least one control

    @property
    def total(self) -> Tally:
        return sum((control.tally for control in self.controls), Tally())


def in_framework(framework: str, control: str) -> bool:
    return control.startswith(FRAMEWORKS[framework])


def packs_implementing(framework: str, policies: Iterable[Policy]) -> list[str]:
    """The packs with at least one policy that implements a control of ``framework``."""
    return sorted(
        {p.pack for p in policies if p.pack and any(in_framework(framework, c) for c in p.controls)}
    )


def build_compliance(report: ScanReport, *, framework: str, policies: Mapping[str, Policy]) -> Compliance:
    """Per control: a resource passes when every result of every rule mapped to the control passes.

    A failing, warning or error result fails the resource; a waived one (``skip`` naming a waiver)
    makes it waived unless something else fails. Controls of loaded policies that checked nothing
    are listed too, with ``percent`` ``None``.
    """
    verdicts: dict[str, dict[DocumentKey, list[Result]]] = {}
    implementers: dict[str, set[str]] = {}
    for policy in policies.values():
        for control in policy.controls:
            if in_framework(framework, control):
                verdicts.setdefault(control, {})
                implementers.setdefault(control, set()).add(policy.id)
    for result in report.results:
        for control in result.controls:
            if in_framework(framework, control):
                key = (result.location.file, result.location.index, result.resource)
                verdicts.setdefault(control, {}).setdefault(key, []).append(result)
                implementers.setdefault(control, set()).add(result.policy)
    controls = []
    checked: set[DocumentKey] = set()
    for control in sorted(verdicts, key=natural_key):
        tally = Tally()
        for key, results in verdicts[control].items():
            outcome = _outcome(results)
            if outcome is not None:
                tally += outcome
                checked.add(key)
        title = "; ".join(_title(policy_id, policies) for policy_id in sorted(implementers[control]))
        controls.append(ControlStatus(control, title, tally))
    return Compliance(framework=framework, controls=tuple(controls), resources=len(checked))


def _outcome(results: Sequence[Result]) -> Tally | None:
    if any(r.verdict in FAILING for r in results):
        return Tally(checked=1, failing=1)
    if any(r.waiver for r in results):
        return Tally(checked=1, waived=1)
    if any(r.verdict is Verdict.PASS for r in results):
        return Tally(checked=1, passing=1)
    return None  # only skips without a waiver: the control was not checked here


def _title(policy_id: str, policies: Mapping[str, Policy]) -> str:
    policy = policies.get(policy_id)
    return policy.title if policy is not None else policy_id


def natural_key(control: str) -> tuple[Any, ...]:
    """``CIS-K8s:5.2.9`` before ``CIS-K8s:5.2.10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", control))


def to_json(compliance: Compliance) -> dict[str, Any]:
    total = compliance.total
    return {
        "framework": compliance.framework,
        "controls": [{"id": c.id, "title": c.title, **_tally_json(c.tally)} for c in compliance.controls],
        "total": {
            "controls": len(compliance.controls),
            "resources": compliance.resources,
            **_tally_json(total),
        },
    }


def _tally_json(tally: Tally) -> dict[str, Any]:
    return {
        "checked": tally.checked,
        "passing": tally.passing,
        "failing": tally.failing,
        "waived": tally.waived,
        "percent": tally.percent,
    }


def write_json(report: ScanReport, compliance: Compliance, out: TextIO, *, now: datetime) -> None:
    """The usual JSON report (streamed) with the view under ``compliance``."""
    jsonreports.write(report, out, now=now, extra={"compliance": to_json(compliance)})


def render_table(compliance: Compliance, *, color: bool = False, width: int = 100) -> str:
    """One row per control (id, and the policies' titles below it), then the total."""
    from rich import box  # rich and the table format load only when a table is drawn
    from rich.table import Table
    from rich.text import Text

    from leitplanke.reports import tables

    buffer = io.StringIO()
    console = tables.build_console(buffer, color=color, width=width)  # the table report's fixed settings
    name = FRAMEWORK_NAMES.get(compliance.framework, compliance.framework)
    console.print(Text(f"Compliance: {compliance.framework} ({name})", style="bold underline"))
    resources = f"total ({len(compliance.controls)} controls, {compliance.resources} resources)"
    totals = _cells(compliance.total)
    table = Table(box=box.SIMPLE, padding=(0, 1), show_edge=False, show_footer=True, header_style="bold")
    table.add_column("control", Text(resources, style="bold"), overflow="fold", ratio=1)
    for heading, total in zip(("checked", "passing", "failing", "waived", "compliance"), totals, strict=True):
        table.add_column(heading, total, justify="right", no_wrap=True)
    for control in compliance.controls:
        cell = Text(control.id)
        cell.append(f"\n{control.title}", style="dim")
        table.add_row(cell, *_cells(control.tally))
    console.print(table)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _cells(tally: Tally) -> tuple[Text, ...]:
    from rich.text import Text

    percent = tally.percent
    style = "" if percent is None else "green" if percent == 100 else "red" if tally.failing else "yellow"
    shown = "-" if percent is None else f"{percent:.1f}%"
    numbers = (tally.checked, tally.passing, tally.failing, tally.waived)
    return (*(Text(str(n)) for n in numbers), Text(shown, style=style))
