"""``leitplanke dora``: the DORA figures of a team, an app, a value stream or the organisation as a
table, asked from the service (``GET /api/v1/dora``) with a viewer token or more.

The four figures with their performance band, then the weekly trend; ``--format json`` prints the
service's answer as it came.
"""

from __future__ import annotations

import io
import sys
import urllib.parse
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from leitplanke import settings
from leitplanke.cli import credentials, terminals, waivers
from leitplanke.core.problems import UsageError
from leitplanke.delivery.deliveryviews import duration
from leitplanke.reports import tables

ValueStreamOpt = Annotated[str | None, typer.Option("--value-stream", help="A value stream's figures.")]
EnvOpt = Annotated[
    str | None, typer.Option("--env", help="The production environment (default: the service's).")
]
BAND_STYLES = {"elite": "bold green", "high": "green", "medium": "yellow", "low": "red"}


def dora_command(
    server: Annotated[str, typer.Option("--server", help="The service's URL.")] = "http://127.0.0.1:8080",
    team: Annotated[str | None, typer.Option("--team", help="The team's figures.")] = None,
    app: Annotated[str | None, typer.Option("--app", help="One application's figures.")] = None,
    value_stream: Annotated[
        str | None, typer.Option("--value-stream", help="A value stream's figures.")
    ] = None,
    period: Annotated[str, typer.Option("--period", help="90d, 12w or a number of days.")] = "90d",
    env: Annotated[
        str | None, typer.Option("--env", help="The production environment (the service's default).")
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (also NO_COLOR).")] = False,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Deployment frequency, lead time for changes, change failure rate and failed-deployment recovery
    time, with their DORA performance bands and the weekly trend; without --team, --app or
    --value-stream, the organisation's."""
    if format not in ("table", "json"):
        raise UsageError(f"--format {format!r}: use table or json")
    if sum(x is not None for x in (team, app, value_stream)) > 1:
        raise UsageError("give one of --team, --app and --value-stream")
    found = credentials.require_token(token, token_file, command="dora")
    query = {"period": period, "team": team, "app": app, "valueStream": value_stream, "env": env}
    url = f"{server.rstrip('/')}/api/v1/dora?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
    # the CLI's one HTTP GET with its errors mapped to exit codes 4 and 5 (cli.waivers)
    text = waivers._http_get(url, {"Authorization": f"Bearer {found}", "Accept": "application/json"})
    if format == "json":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    terminal = terminals.build_terminal(sys.stdout, no_color=no_color, display=settings.load_display())
    sys.stdout.write(render_dora(orjson.loads(text), color=terminal.color, width=terminal.width))


def render_dora(answer: Mapping[str, Any], *, color: bool, width: int) -> str:
    """The figures table and the weekly trend table of an ``/api/v1/dora`` answer."""
    buffer = io.StringIO()
    console = tables.build_console(buffer, color=color, width=width)
    scope = answer["scope"]
    who = "the organisation" if scope["level"] == "org" else f"{scope['level']} {scope['name']}"
    figures = answer["figures"]
    console.print(
        Text(f"DORA figures of {who} in {answer['env']}, last {answer['periodDays']} days", style="bold")
    )
    console.print(_figures_table(figures))
    if answer["weeks"]:
        console.print(Text("Weekly trend", style="bold"))
        console.print(_weeks_table(answer["weeks"]))
    return buffer.getvalue()


def _figures_table(figures: Mapping[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name, justify in (("metric", "left"), ("value", "right"), ("band", "left"), ("basis", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    bands = figures["bands"]
    rate = figures["changeFailureRate"]
    unrecovered = f", {figures['unrecovered']} open" if figures["unrecovered"] else ""
    rows = (
        (
            "deployment frequency",
            f"{figures['deploymentsPerDay']:.2f}/day",
            bands["deploymentFrequency"],
            f"{figures['deployments']} deployments",
        ),
        (
            "lead time for changes",
            duration(figures["leadTimeSeconds"]),
            bands["leadTime"],
            f"median of {figures['commits']} commits",
        ),
        (
            "change failure rate",
            "—" if rate is None else f"{rate * 100:.1f}%",
            bands["changeFailureRate"],
            f"{figures['failedDeployments']} failed",
        ),
        (
            "failed deployment recovery",
            duration(figures["recoverySeconds"]),
            bands["recoveryTime"],
            f"median of {figures['recovered']} recovered{unrecovered}",
        ),
    )
    for metric, value, band, basis in rows:
        table.add_row(metric, value, Text(band or "—", style=BAND_STYLES.get(band or "", "")), basis)
    return table


def _weeks_table(weeks: list[Mapping[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in ("week from", "deploys", "lead time", "failure rate", "recovery"):
        table.add_column(name, justify="left" if name == "week from" else "right", no_wrap=True)
    for week in weeks:
        rate = week["changeFailureRate"]
        table.add_row(
            week["start"][:10],
            str(week["deployments"]),
            duration(week["leadTimeSeconds"]),
            "—" if rate is None else f"{rate * 100:.1f}%",
            duration(week["recoverySeconds"]),
        )
    return table
