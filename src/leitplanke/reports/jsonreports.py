"""The machine-readable report, versioned as ``leitplanke.dev/scan/v1``.

Called by ``reports.render_report`` for the ``json`` format. The format is described by
``schemas/scan-v1.schema.json``; any change that breaks a reader needs a new version.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import resources
from typing import Any, TextIO

import orjson

from leitplanke.core.documents import SkippedInput
from leitplanke.core.policies import Policy, Severity
from leitplanke.core.problems import Problem
from leitplanke.core.results import Result, ScanReport
from leitplanke.reports import summaries

SCHEMA_VERSION = "leitplanke.dev/scan/v1"
SCHEMA_FILE = "scan-v1.schema.json"


def render(report: ScanReport, *, policies: Mapping[str, Policy], now: datetime) -> str:
    """The report as indented JSON with sorted keys, ending in a newline."""
    del policies  # results carry everything this format needs
    buffer = io.StringIO()
    write(report, buffer, now=now)
    return buffer.getvalue()


def write(report: ScanReport, out: TextIO, *, now: datetime, extra: Mapping[str, Any] | None = None) -> None:
    """Write the report to ``out`` a chunk of results at a time, so memory stays bounded.

    ``extra`` adds optional top-level keys the schema describes (``compliance``).
    """
    document = {
        **(extra or {}),  # first, so that the keys of the format always win
        "schemaVersion": SCHEMA_VERSION,
        "generatedAt": summaries.rfc3339(now),
        "summary": _summary(summaries.build_summary(report)),
        "results": _PLACEHOLDER,
        "problems": [_problem(problem) for problem in sorted(report.problems)],
        "skipped": [_skipped(skipped) for skipped in sorted(report.skipped, key=_skipped_key)],
    }
    head, tail = orjson.dumps(document, option=_OPTIONS).decode().split(_PLACEHOLDER_JSON, 1)
    out.write(head)
    _write_results(summaries.ordered(report.results), out)
    out.write(tail + "\n")


_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
_PLACEHOLDER = "\x00results\x00"
_PLACEHOLDER_JSON = '"\\u0000results\\u0000"'
_CHUNK = 2000


def _write_results(results: Sequence[Result], out: TextIO) -> None:
    """The results array, rendered a chunk at a time: a scan may hold hundreds of thousands."""
    if not results:
        out.write("[]")
        return
    out.write("[\n")
    for start in range(0, len(results), _CHUNK):
        chunk = orjson.dumps([_result(r) for r in results[start : start + _CHUNK]], option=_OPTIONS).decode()
        inner = chunk[2:-2]  # without "[\n" and "\n]", one level deeper than at the top
        if start:
            out.write(",\n")
        out.write("  " + inner.replace("\n", "\n  "))
    out.write("\n  ]")


def load_schema() -> dict[str, Any]:
    """The JSON Schema of this format, shipped inside the package."""
    text = resources.files("leitplanke.reports").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _summary(summary: summaries.Summary) -> dict[str, Any]:
    return {
        "resources": summary.resources,
        "checks": summary.checks,
        "verdicts": dict(summary.verdicts),
        "failuresBySeverity": dict(summary.failures_by_severity),
        "waived": summary.waived,
        "problems": summary.problems,
        "skippedInputs": summary.skipped_inputs,
    }


_LABELS = {severity: severity.label for severity in Severity}  # enum attributes are slow per result


def _result(result: Result) -> dict[str, Any]:
    resource, location = result.resource, result.location
    return {
        "policy": result.policy,
        "rule": result.rule,
        "verdict": str(result.verdict),
        "severity": _LABELS[result.severity],
        "category": result.category,
        "controls": list(result.controls),
        "message": result.message,
        "resource": {
            "domain": resource.domain,
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "namespace": resource.namespace,
            "name": resource.name,
        },
        "location": {
            "file": location.file,
            "line": location.line,
            "path": location.path,
            "index": location.index,
        },
        "waiver": result.waiver or None,
        "fix": _fix(result.fix) if result.fix is not None else None,
    }


def _fix(fix: Mapping[str, Any]) -> dict[str, Any]:
    # always the three documented keys, whatever else the engine kept in its mapping
    return {
        "path": str(fix.get("path", "")),
        "merge": plain(fix.get("merge", {})),
        "remove": [str(key) for key in fix.get("remove", ())],
    }


def plain(value: Any) -> Any:
    """``value`` with every mapping a dict and every sequence a list, as JSON encoders expect."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _problem(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "code": problem.code,
        "level": problem.level.value,
        "message": problem.message,
        "field": problem.field,
    }


def _skipped(skipped: SkippedInput) -> dict[str, Any]:
    return {"file": skipped.file, "index": skipped.index, "line": skipped.line, "reason": skipped.reason}


def _skipped_key(skipped: SkippedInput) -> tuple[str, int, int, str]:
    return (skipped.file, skipped.index, skipped.line, skipped.reason)
