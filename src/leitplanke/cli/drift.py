"""``leitplanke drift``: desired objects from a path of a Git revision against live ``kubectl get -o yaml``
exports; a table or JSON of what is in sync, drifted (with a diff), missing or extra; ``--upload`` sends
what is not in sync to the service as findings of ``--app`` in ``--env``, as a scan of source ``drift``.

Exit codes (``cli/main``): 0 all in sync, 1 drift found or an input unreadable, 2 usage error.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from leitplanke.cli import credentials, options
from leitplanke.core.policies import Severity
from leitplanke.core.problems import UsageError
from leitplanke.core.results import ScanReport
from leitplanke.delivery import drift, driftignoring, driftloading

EXIT_OK, EXIT_DRIFT = 0, 1
SCHEMA_VERSION = "leitplanke.dev/drift/v1"
SOURCE = "drift"  # the uploads' (``governance.findingstates.DRIFT``)
FORMATS = ("table", "json")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # a name or a value must not steer the terminal

Repo = Annotated[str, typer.Option("--repo", metavar="REPO", help="The Git repository (a path or a URL).")]
RepoPath = Annotated[
    str,
    typer.Option(
        "--path", metavar="PATH", help="The directory in the repository: manifests, Kustomize or Helm."
    ),
]
Revision = Annotated[str, typer.Option("--revision", metavar="REV", help="The branch, tag or commit.")]
Live = Annotated[
    str, typer.Option("--live", metavar="DIR", help="A directory (or file) of `kubectl get -o yaml` exports.")
]
IgnoreFile = Annotated[
    Path | None,
    typer.Option("--ignore-file", metavar="FILE", help="Ignore rules as Argo CD's ignoreDifferences (YAML)."),
]
Namespace = Annotated[
    str,
    typer.Option("--namespace", metavar="NAME", help="The namespace of desired objects that name none."),
]
Values = Annotated[
    list[str] | None,
    typer.Option(
        "--values",
        metavar="FILE",
        rich_help_panel=options.HELM,
        help="Helm values file (repeatable); a relative path is a file of the repository at --revision.",
    ),
]
DriftSeverity = Annotated[
    str, typer.Option("--severity", metavar="LEVEL", help="The severity of drift findings when uploaded.")
]


def drift_command(
    repo: Repo,
    path: RepoPath,
    live: Live,
    revision: Revision = "HEAD",
    ignore_file: IgnoreFile = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="table or json.")] = "table",
    namespace: Namespace = drift.DEFAULT_NAMESPACE,
    values: Values = None,
    set_values: options.SetValues = None,
    severity: DriftSeverity = "medium",
    upload: options.Upload = None,
    app_name: options.App = None,
    env_name: options.Env = None,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Compare what a Git revision says should run with what runs (exports of `kubectl get -o yaml`)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: use table or json")
    try:
        level = Severity.parse(severity)
    except KeyError:
        raise UsageError(f"--severity {severity!r}: use critical, high, medium, low or info") from None
    found_token = None
    if upload is not None or app_name is not None or env_name is not None:
        found_token = credentials.check_upload(
            upload, app=app_name, env=env_name, token=token, token_file=token_file
        )
    rules = _rules(ignore_file)
    desired = driftloading.load_desired(
        repo=repo, revision=revision, path=path, helm_values=values or [], helm_set=set_values or []
    )
    running = driftloading.load_live(live)
    found = drift.compare(desired.documents, running.documents, rules=rules, default_namespace=namespace)
    problems = [*desired.problems, *running.problems]
    if fmt == "json":
        typer.echo(render_json(found, repo=repo, revision=revision, path=path, problems=problems))
    else:
        typer.echo(render_table(found), nl=False)
    for problem in problems:
        typer.echo(_clean(problem.render()), err=True)
    if upload is not None and problems:
        # a side read in part would turn what could not be read into findings, and fix the rest
        typer.echo(f"leitplanke: not uploaded: {len(problems)} input(s) could not be read", err=True)
    elif upload is not None:
        from leitplanke.cli import uploading

        report = ScanReport(results=drift.build_results(found, severity=level), documents=len(found))
        report.evaluations = len(found)
        uploading.upload_report(
            report.finish(),
            url=upload,
            app=app_name,
            env=env_name,
            token=found_token,
            now=datetime.now(UTC),
            source=SOURCE,  # the service fixes only the drift findings with it, not the scope's CI ones
        )
    drifted = any(item.status is not drift.Status.IN_SYNC for item in found)
    raise typer.Exit(EXIT_DRIFT if drifted or problems else EXIT_OK)


def _rules(ignore_file: Path | None) -> list[driftignoring.IgnoreRule]:
    if ignore_file is None:
        return []
    try:
        text = ignore_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--ignore-file {ignore_file}: cannot be read ({exc})") from exc
    rules, problems = driftignoring.parse_rules(text, file=str(ignore_file))
    if problems:
        raise UsageError(
            f"--ignore-file {ignore_file}: {len(problems)} bad rule(s)", problems=tuple(problems)
        )
    return rules


def _clean(text: str) -> str:
    return _CONTROL.sub("\ufffd", text)


def render_table(found: Sequence[drift.DriftResult]) -> str:
    """A line per object (status, kind, namespace, name), the diffs of drifted ones, a count per status."""
    rows = [("STATUS", "KIND", "NAMESPACE", "NAME")] + [
        (item.status.value, item.resource.kind, item.resource.namespace or "-", item.resource.name)
        for item in found
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    for item in found:
        if item.diff:
            lines += ["", item.diff.rstrip("\n")]
    counts = Counter(item.status.value for item in found)
    lines += ["", ", ".join(f"{counts[status.value]} {status.value}" for status in drift.Status)]
    return _clean("\n".join(lines) + "\n")


def render_json(
    found: Sequence[drift.DriftResult], *, repo: str, revision: str, path: str, problems: Sequence[Any]
) -> str:
    """The comparison as one JSON object (``leitplanke.dev/drift/v1``), every string JSON-escaped."""
    counts = Counter(item.status.value for item in found)
    document = {
        "schemaVersion": SCHEMA_VERSION,
        "repo": repo,
        "revision": revision,
        "path": path,
        "summary": {status.value: counts[status.value] for status in drift.Status},
        "results": [
            {
                "status": item.status.value,
                "resource": {
                    "apiVersion": item.resource.api_version,
                    "kind": item.resource.kind,
                    "namespace": item.resource.namespace,
                    "name": item.resource.name,
                },
                "diff": item.diff,
            }
            for item in found
        ],
        "problems": [
            {"file": p.file, "line": p.line, "code": p.code, "message": p.message} for p in problems
        ],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
