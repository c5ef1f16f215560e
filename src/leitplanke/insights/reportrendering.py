"""The business report rendered: Markdown (pure text), HTML (a Jinja2 template, every value escaped by
the template engine, charts as inline SVG from ``insights.charts`` when given) and JSON. Called by
``cli.report``; PDF is the HTML printed by ``insights.pdfs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jinja2
import markupsafe
import orjson

from leitplanke.insights.reportdata import SECTIONS, TITLES


def render_json(report: Mapping[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _cell(value: Any) -> str:
    """A Markdown table cell: no line breaks, pipes escaped."""
    if value is None:
        return "–"
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split())


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    out = [f"# leitplanke report: {_cell(report['scope'])}", ""]
    out.append(f"{report['apps']} apps, the {report['periodDays']} days up to {report['at']}.")
    out.append("")
    for section in SECTIONS:
        out += [f"## {TITLES[section]}", ""]
        out += _SECTIONS_MD[section](report[section])
    return "\n".join(out)


def _pick(items: Iterable[Mapping[str, Any]], *keys: str) -> list[list[Any]]:
    return [[item[key] for key in keys] for item in items]


def _compliance_md(data: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for framework in data["frameworks"]:
        out += [f"**{framework['framework']}**: {framework['controlsFailing']} controls failing", ""]
        if framework["controls"]:
            rows = _pick(framework["controls"], "control", "failing", "apps")
            out += _table(["control", "failing", "apps"], rows)
    out += ["### Recurring violations", ""]
    out += _table(["policy", "apps", "reopenings"], _pick(data["recurring"], "policy", "apps", "reopenings"))
    out += ["### Regressions with a revision", ""]
    regressions = [[r["app"], r["env"], r["revision"], len(r["findings"])] for r in data["regressions"]]
    out += _table(["app", "env", "revision", "findings"], regressions)
    return out


def _security_md(data: Mapping[str, Any]) -> list[str]:
    opened, overdue = data["open"], data["overdue"]
    out = _table(["", *opened], [["open", *opened.values()], ["overdue", *overdue.values()]])
    out += ["### Top risks", ""]
    out += _table(["policy", "weight", "apps"], _pick(data["topRisks"], "policy", "weight", "apps"))
    out += ["### Slowest to fix", ""]
    rows = _pick(data["slowestToFix"], "policy", "fixes", "medianDays")
    out += _table(["policy", "fixes", "median days"], rows)
    return out


def _performance_md(data: Mapping[str, Any]) -> list[str]:
    out = [f"Memory leaks: {data['leaks']}; repeatedly OOM-killed: {data['oomKilled']}.", ""]
    out += _table(["app", "policy", "severity"], _pick(data["runtimeFindings"], "app", "policy", "severity"))
    out += ["### DORA", ""]
    if figures := data.get("doraFigures"):
        out += [dora_line(figures), ""]
    rows = ((k["title"], k["value"], f"{k['op']} {k['target']}", k["note"]) for k in data["dora"])
    out += _table(["KPI", "value", "target", "note"], rows)
    return out


def dora_line(figures: Mapping[str, Any]) -> str:
    """The scope's DORA figures in one sentence (Markdown and HTML)."""
    bands = figures["bands"]
    return (
        f"{figures['deployments']} deployments ({figures['deploymentsPerWeek']} a week, "
        f"{bands['deploymentFrequency']}), lead time {_cell(figures['leadTimeHours'])} h "
        f"({bands['leadTime']}), change failure rate {_cell(figures['changeFailureRate'])} "
        f"({bands['changeFailureRate']}), recovery {_cell(figures['recoveryHours'])} h "
        f"({bands['recoveryTime']})."
    )


def _cost_md(data: Mapping[str, Any]) -> list[str]:
    if "note" in data:
        return [str(data["note"]), ""]
    total = data["total"]
    out = [f"Total {total['total']}, idle {data['idle']}, efficiency {_cell(total['efficiency'])}.", ""]
    rows = ((app, c["total"], c["efficiency"]) for app, c in data["apps"].items())
    out += _table(["app", "total", "efficiency"], rows)
    for key, title in (("environments", "environment"), ("valueStreams", "value stream")):
        if data.get(key):
            out += [f"### Per {title}", ""]
            rows = ((name, c["total"], c["efficiency"]) for name, c in data[key].items())
            out += _table([title, "total", "efficiency"], rows)
    out += ["### Right-sizing", ""]
    keys = ("pod", "container", "cpu", "memoryMiB", "savingPer30Days")
    headers = ["pod", "container", "CPU cores", "memory MiB", "saving / 30 days"]
    out += _table(headers, _pick(data["suggestions"], *keys))
    return out


def _kpis_md(data: Mapping[str, Any]) -> list[str]:
    rows = (
        (k["title"], k["value"], _target(k), _met(k["met"]), k["trend"], k["missing"] or k["note"])
        for k in data["kpis"]
    )
    return _table(["KPI", "value", "target", "met", "trend", "missing / note"], rows)


def _comparison_md(data: Mapping[str, Any]) -> list[str]:
    apps = data["apps"]
    native, other = _cell(apps["cloud-native"]), _cell(apps["not-cloud-native"])
    out = [f"Cloud-native ({data['basis']}): {native}; not: {other}.", ""]
    rows = _pick(data["measures"], "measure", "cloud-native", "not-cloud-native")
    out += _table(["measure", "cloud-native", "not cloud-native"], rows)
    return out


def _target(kpi: Mapping[str, Any]) -> str:
    return f"{kpi['op']} {kpi['target']}"


def _met(met: bool | None) -> str:
    return "–" if met is None else "yes" if met else "no"


_SECTIONS_MD = {
    "compliance": _compliance_md,
    "security": _security_md,
    "performance": _performance_md,
    "cost": _cost_md,
    "kpis": _kpis_md,
    "comparison": _comparison_md,
}


def render_html(report: Mapping[str, Any], *, charts: Mapping[str, str] | None = None) -> str:
    """``charts``: section -> SVG text rendered by us (trusted markup; everything else is escaped)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("leitplanke.insights", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template("report.html.j2")
    svg = {name: markupsafe.Markup(text) for name, text in (charts or {}).items()}
    return template.render(
        report=report, sections=SECTIONS, titles=TITLES, charts=svg, met=_met, dora_line=dora_line
    )
