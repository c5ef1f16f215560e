"""The options of ``leitplanke scan``, declared once and grouped as its help shows them.

Read by ``cli/scan`` only; the options every policy command shares live in ``cli/gathering``.
"""

from __future__ import annotations

from typing import Annotated

import typer

OUTPUT, HELM, UPLOAD = "Output", "Helm charts", "Upload to the governance service"

Paths = Annotated[list[str] | None, typer.Argument(help="Files or directories to scan; - reads stdin.")]
Waivers = Annotated[
    list[str] | None, typer.Option("--waivers", metavar="PATH", help="Waiver file or directory (repeatable).")
]
Format = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        rich_help_panel=OUTPUT,
        help="table, json, sarif, junit or policyreport.",
    ),
]
Output = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", metavar="FILE", rich_help_panel=OUTPUT, help="Write the report to this file."
    ),
]
FailOn = Annotated[
    str | None,
    typer.Option(
        "--fail-on",
        metavar="SEVERITY",
        help="Lowest severity that fails the scan (exit 1): critical, high, medium, low or info "
        "(default: high, or failOn of the config file).",
    ),
]
Jobs = Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Worker processes (0: one per core).")]
ShowPassed = Annotated[
    bool, typer.Option("--show-passed", rich_help_panel=OUTPUT, help="List passing checks in the table.")
]
Severity = Annotated[
    str | None,
    typer.Option(
        "--severity",
        metavar="SEVERITY",
        rich_help_panel=OUTPUT,
        help="Show only results at or above this severity in the table. Display only: the summary "
        "counts every result and --fail-on alone decides the exit code.",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        rich_help_panel=OUTPUT,
        help="The table's summary line only; no progress bar, no note of the policies run.",
    ),
]
NoColor = Annotated[
    bool,
    typer.Option(
        "--no-color", rich_help_panel=OUTPUT, help="No colour (also with the NO_COLOR environment variable)."
    ),
]
Values = Annotated[
    list[str] | None,
    typer.Option("--values", metavar="FILE", rich_help_panel=HELM, help="Helm values file (repeatable)."),
]
SetValues = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", rich_help_panel=HELM, help="Helm value (repeatable)."),
]
PssVersion = Annotated[
    str,
    typer.Option(
        "--pss-version",
        metavar="VERSION",
        help="Pod Security Standards version (latest or v1.N) where no Namespace pins one.",
    ),
]
Host = Annotated[
    bool,
    typer.Option("--host", help="Also audit this machine: sshd, kernel parameters, file permissions."),
]
ConfigType = Annotated[
    str | None,
    typer.Option(
        "--type",
        metavar="TYPE",
        help="Read every file as this type instead of recognising it: envoy, nginx, kafka, "
        "rabbitmq, mosquitto, sshd, sysctl or kubernetes.",
    ),
]
Compliance = Annotated[
    str | None,
    typer.Option(
        "--compliance",
        metavar="FRAMEWORK",
        rich_help_panel=OUTPUT,
        help="Per-control compliance with pss-restricted, pss-baseline, cis, nsa or cks (table, json); "
        "without --pack, runs the packs that implement it.",
    ),
]
Upload = Annotated[
    str | None,
    typer.Option(
        "--upload",
        metavar="URL",
        rich_help_panel=UPLOAD,
        help="Also send the results to the governance service at this URL (needs --app, --env and a token).",
    ),
]
App = Annotated[
    str | None, typer.Option("--app", metavar="NAME", rich_help_panel=UPLOAD, help="The application scanned.")
]
Env = Annotated[
    str | None, typer.Option("--env", metavar="NAME", rich_help_panel=UPLOAD, help="The environment scanned.")
]
