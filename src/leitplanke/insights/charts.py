"""The report's charts, rendered server-side from Vega-Lite to SVG by vl-convert (offline), so that the
HTML and the PDF show the same pictures. The only module that imports ``vl_convert``; called by
``cli.report``. Values are data, never markup: Vega escapes them in the SVG it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import vl_convert

from leitplanke.core.problems import LeitplankeError
from leitplanke.insights.trends import SEVERITIES

_WIDTH, _HEIGHT = 520, 180


class ChartError(LeitplankeError):
    code = "chart"


def render_charts(report: Mapping[str, Any]) -> dict[str, str]:
    """section -> SVG: open findings per severity over time, the weekly flow, the comparison."""
    specs = {
        "security": _open_over_time(report["security"]["openOverTime"]),
        "compliance": _weekly_flow(report["compliance"]["weeks"]),
        "comparison": _comparison(report["comparison"]["measures"]),
    }
    return {name: _svg(spec) for name, spec in specs.items()}


def _svg(spec: dict[str, Any]) -> str:
    try:
        return str(vl_convert.vegalite_to_svg(vl_spec=spec))
    except Exception as exc:  # vl-convert raises plain ValueError/RuntimeError: wrapped here, at the adapter
        raise ChartError(f"a chart could not be rendered: {exc}") from exc


def _base(title: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": _WIDTH,
        "height": _HEIGHT,
        "data": {"values": values},
        "config": {"font": "DejaVu Sans"},
    }


def _open_over_time(points: list[Mapping[str, Any]]) -> dict[str, Any]:
    values = [
        {"at": p["at"][:10], "severity": severity, "open": count}
        for p in points
        for severity, count in p["open"].items()
    ]
    spec = _base("Open findings per severity", values)
    spec["mark"] = {"type": "line", "point": True}
    spec["encoding"] = {
        "x": {"field": "at", "type": "temporal", "title": None},
        "y": {"field": "open", "type": "quantitative", "title": "open"},
        "color": {"field": "severity", "type": "nominal", "sort": list(SEVERITIES)},
    }
    return spec


def _weekly_flow(weeks: list[Mapping[str, Any]]) -> dict[str, Any]:
    kinds = ("new", "reopened", "fixed")
    values = [{"week": w["week"], "kind": kind, "findings": w[kind]} for w in weeks for kind in kinds]
    spec = _base("New, reopened and fixed per week", values)
    spec["mark"] = "bar"
    spec["encoding"] = {
        "x": {"field": "week", "type": "ordinal", "title": None},
        "xOffset": {"field": "kind"},
        "y": {"field": "findings", "type": "quantitative"},
        "color": {"field": "kind", "type": "nominal"},
    }
    return spec


def _comparison(measures: list[Mapping[str, Any]]) -> dict[str, Any]:
    values = [
        {"measure": m["measure"], "class": name, "value": m[name]}
        for m in measures
        for name in ("cloud-native", "not-cloud-native")
        if m[name] is not None and m["measure"] in ("open-findings-per-app", "sla-adherence", "waiver-ratio")
    ]
    spec = _base("Cloud-native compared", values)
    spec["mark"] = "bar"
    spec["encoding"] = {
        "y": {"field": "measure", "type": "nominal", "title": None},
        "yOffset": {"field": "class"},
        "x": {"field": "value", "type": "quantitative"},
        "color": {"field": "class", "type": "nominal"},
    }
    return spec
