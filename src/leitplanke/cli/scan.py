"""``leitplanke scan``: documents from paths through the policies into a report.

Maps the outcome to exit codes: 0 clean, 1 failing results at or above
``--fail-on`` (or inputs that could not be evaluated), 2 usage or policy error: before
the scan (no report), or a policy that could not run (the others ran, the report is written).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from leitplanke import engine, reports
from leitplanke.cli import credentials, gathering
from leitplanke.core.documents import Document
from leitplanke.core.policies import Severity
from leitplanke.core.problems import Level, UsageError
from leitplanke.core.results import ScanReport, Verdict
from leitplanke.engine import loading, pssversions
from leitplanke.reports import compliance, jsonreports
from leitplanke.sources import files, hosts

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def scan_command(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Files or directories to scan; - reads stdin.")
    ] = None,
    policies: Annotated[
        list[str] | None, typer.Option("--policies", "-p", help="Policy file or directory (repeatable).")
    ] = None,
    pack: Annotated[list[str] | None, typer.Option("--pack", help="Built-in pack (repeatable).")] = None,
    waivers: Annotated[list[str] | None, typer.Option("--waivers", help="Waiver file or directory.")] = None,
    config: Annotated[str | None, typer.Option("--config", help="Organisation config file.")] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, json, sarif, junit or policyreport.")
    ] = "table",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    fail_on: Annotated[
        str | None, typer.Option("--fail-on", help="Lowest severity that fails the scan (default: high).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (0: one per core).")] = 0,
    values: Annotated[
        list[str] | None, typer.Option("--values", help="Helm values file (repeatable).")
    ] = None,
    set_values: Annotated[
        list[str] | None, typer.Option("--set", help="Helm value key=value (repeatable).")
    ] = None,
    show_passed: Annotated[
        bool, typer.Option("--show-passed", help="List passing checks in the table.")
    ] = False,
    host: Annotated[
        bool,
        typer.Option("--host", help="Also audit this machine: sshd, kernel parameters, file permissions."),
    ] = False,
    config_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="Read every file as this type instead of recognising it: envoy, nginx, kafka, "
            "rabbitmq, mosquitto, sshd, sysctl or kubernetes.",
        ),
    ] = None,
    framework: Annotated[
        str | None,
        typer.Option(
            "--compliance",
            help="Per-control compliance with pss-restricted, pss-baseline, cis, nsa or cks (table, json); "
            "without --pack or --policies, loads the packs that implement it.",
        ),
    ] = None,
    upload: Annotated[
        str | None,
        typer.Option("--upload", help="Also send the results to the governance service at this URL."),
    ] = None,
    app_name: Annotated[
        str | None, typer.Option("--app", help="With --upload: the application scanned.")
    ] = None,
    env_name: Annotated[
        str | None, typer.Option("--env", help="With --upload: the environment scanned.")
    ] = None,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
    pss_version: Annotated[
        str,
        typer.Option(
            "--pss-version",
            help="Pod Security Standards version (latest or v1.N) where no Namespace pins one.",
        ),
    ] = "latest",
) -> None:
    """Scan Kubernetes manifests, Helm charts and Kustomize directories against policies."""
    if fmt not in reports.FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(reports.FORMATS)}")
    if config_type is not None and config_type not in files.config_types():
        raise UsageError(f"--type {config_type!r}: use one of {', '.join(files.config_types())}")
    if upload is not None:  # before the scan: a missing token is reported before any work is done
        token = credentials.require_token(token, token_file, command="--upload")
        if not app_name or not env_name:
            raise UsageError("--upload needs --app and --env")
    now = datetime.now(UTC)
    if framework is not None:
        _check_compliance(framework, fmt)
        if not pack and not policies:
            pack = compliance.packs_implementing(
                framework, loading.load_packs(loading.available_packs(), now=now).policies
            )
    gathered = gathering.gather(
        policy_paths=policies or [],
        packs=pack or [],
        waiver_paths=waivers or [],
        config_path=config,
        now=now,
    )
    threshold = _threshold(fail_on, gathered.config.fail_on)
    _add_scan_inventory(gathered, paths or ["."], config_type=config_type)
    policy_set = gathering.compile_gathered(gathered)
    if gathered.fatal:  # a broken policy is not: it is reported, the others run
        for problem in sorted(gathered.problems):
            typer.echo(problem.render(), err=True)
        raise typer.Exit(EXIT_USAGE)
    with tempfile.TemporaryDirectory(prefix="leitplanke-scan-") as spool:
        report = run_scan(
            paths or ([] if host else ["."]),
            policy_set=policy_set,
            waivers=gathered.waivers,
            now=now,
            jobs=jobs,
            helm_values=values or [],
            helm_set=set_values or [],
            host=host,
            config_type=config_type,
            pss_version=pss_version,
            sink=_sink(
                fmt, spool=spool, show_passed=show_passed, whole=framework is not None or upload is not None
            ),
        )
        report.problems[:0] = gathered.problems  # warnings from loading come first
        report.broken = list(policy_set.broken)
        policy_map = dict(policy_set.policies)
        view = None
        if framework is not None:
            view = compliance.build_compliance(report, framework=framework, policies=policy_map)
        write_report(
            report,
            fmt=fmt,
            output=output,
            policies=policy_map,
            now=now,
            show_passed=show_passed,
            compliance_view=view,
        )
    if upload is not None:
        from leitplanke.cli import uploading

        uploading.upload_report(report, url=upload, app=app_name, env=env_name, token=token, now=now)
    raise typer.Exit(exit_code(report, threshold))


def _add_scan_inventory(gathered: gathering.Gathered, paths: list[str], *, config_type: str | None) -> None:
    """Gatekeeper templates that read ``data.inventory`` see the scanned documents too (a first pass).

    Only when such a template is loaded; stdin cannot be read twice and is left out.
    """
    if not gathered.foreign:
        return
    from leitplanke.engine.compat.gatekeeper import (
        constrainttemplates,  # loaded only when another engine's policies are
    )

    if not any(constrainttemplates.uses_inventory(p) for p in gathered.foreign):
        return
    readable = [p for p in paths if p != "-" and Path(p).exists()]
    bodies = [
        item.body
        for source in files.iter_sources(readable)
        for item in files.load_source(source, config_type=config_type)
        if isinstance(item, Document)
    ]
    gathered.foreign = constrainttemplates.with_scan_inventory(gathered.foreign, bodies)


def _sink(fmt: str, *, spool: str, show_passed: bool, whole: bool) -> engine.Sink:
    """Where the results of a scan for ``fmt`` go; ``whole``: every result as an object (a
    compliance view or an upload reads them all)."""
    if whole:
        return engine.Collected()
    if fmt == "json":  # a JSON report to keep: the workers render the results themselves
        return engine.Spooled(jsonreports.LineRenderer(), spool=spool)
    if (fmt == "table" and not show_passed) or fmt == "sarif":  # findings only: passes are counted
        return engine.Findings()
    return engine.Collected()


def _check_compliance(framework: str, fmt: str) -> None:
    if framework not in compliance.FRAMEWORKS:
        choices = ", ".join(compliance.FRAMEWORKS)
        raise UsageError(f"--compliance {framework!r}: use one of {choices}")
    if fmt not in ("table", "json"):
        raise UsageError(f"--compliance shows in the table and json formats, not in {fmt}")


def _threshold(option: str | None, configured: Severity | None) -> Severity:
    if option is None:
        return configured if configured is not None else Severity.HIGH
    try:
        return Severity.parse(option)
    except KeyError:
        raise UsageError(f"--fail-on {option!r}: use critical, high, medium, low or info") from None


def run_scan(
    paths: list[str],
    *,
    policy_set: engine.PolicySet,
    waivers: Iterable[Any],
    now: datetime,
    jobs: int,
    helm_values: list[str],
    helm_set: list[str],
    host: bool = False,
    config_type: str | None = None,
    sink: engine.Sink | None = None,
    pss_version: str = "latest",
) -> ScanReport:
    """Scan ``paths`` (and the host) into ``sink`` (default: every result) and its report."""
    sources: list[Any] = [hosts.HostSource()] if host else []
    for path in paths:
        if path != "-" and not Path(path).exists():
            raise UsageError(f"{path}: no such file or directory")
    if pssversions.parse_version(pss_version) is None:
        raise UsageError(f"--pss-version {pss_version!r}: use latest or v1.N, such as v1.30")
    sources.extend(files.iter_sources(paths))  # all at once: a file another one includes loads once
    load = functools.partial(
        _load_source, helm_values=tuple(helm_values), helm_set=tuple(helm_set), config_type=config_type
    )
    sink = sink or engine.Collected()
    with _progress(len(sources)) as advance:
        scanned = engine.scan(
            policy_set,
            sources,
            sink,
            load=load,
            waivers=list(waivers),
            now=now,
            jobs=jobs,
            on_progress=advance,
            context=engine.Context(pss_version=pss_version),
            namespaces=files.namespace_objects(sources),  # Namespaces pin the PSS version of their pods
        )
    return sink.report(scanned)


def _load_source(
    source: Any, *, helm_values: tuple[str, ...], helm_set: tuple[str, ...], config_type: str | None
) -> Iterable[Any]:
    """A path's documents, or the host's for ``--host`` (a module function: workers pickle it)."""
    if isinstance(source, hosts.HostSource):
        return hosts.load_host(source)
    return files.load_source(source, helm_values=helm_values, helm_set=helm_set, config_type=config_type)


class _progress:
    """A progress bar on stderr, only when stderr is a terminal and the scan is long."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Callable[[int], None] | None:
        if self.total < 20 or not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("scanning", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def write_report(
    report: ScanReport,
    *,
    fmt: str,
    output: str | None,
    policies: dict[str, Any],
    now: datetime,
    show_passed: bool = False,
    compliance_view: compliance.Compliance | None = None,
) -> None:
    to_terminal = output is None and sys.stdout.isatty()
    options: dict[str, Any] = {}
    if fmt == "table":
        options = {"color": to_terminal, "show_passed": show_passed}

    def write(stream: TextIO) -> None:
        if compliance_view is not None and fmt == "json":
            compliance.write_json(report, compliance_view, stream, now=now)
            return
        reports.write_report(fmt, report, stream, policies=policies, now=now, **options)
        if compliance_view is not None:
            stream.write("\n" + compliance.render_table(compliance_view, color=to_terminal))

    collecting = gc.isenabled()
    gc.disable()  # rendering builds one short-lived dict per result; the collector only costs time
    try:
        _write_to(output, write)
    finally:
        if collecting:
            gc.enable()
    if fmt != "table":
        for problem in report.problems:
            typer.echo(problem.render(), err=True)


def _write_to(output: str | None, write: Callable[[TextIO], None]) -> None:
    if output is None:
        write(sys.stdout)
    else:
        try:
            with _overwritten(output) as stream:
                write(stream)
        except OSError as exc:  # a missing folder, no permission, a full disk: not an internal error
            raise UsageError(f"{output}: cannot write the report: {exc.strerror or exc}") from exc
        typer.echo(f"report written to {output}", err=True)


@contextlib.contextmanager
def _overwritten(output: str) -> Iterator[TextIO]:
    """``output`` opened for writing; an existing regular file is overwritten where it is and
    cut to the new length at the end, written or not.

    Emptying a large report first costs more than writing the next one: the filesystem frees
    its blocks and allocates them again (ext4 here: 0.5 s against 0.1 s for 600 MB).
    """
    try:
        regular = stat.S_ISREG(os.stat(output).st_mode)
    except OSError:
        regular = False
    if not regular:
        with open(output, "w", encoding="utf-8") as stream:
            yield stream
        return
    with open(os.open(output, os.O_WRONLY), "w", encoding="utf-8") as stream:
        try:
            yield stream
        finally:
            stream.flush()  # what is written ends the file, also when writing stopped halfway
            os.ftruncate(stream.fileno(), os.lseek(stream.fileno(), 0, os.SEEK_CUR))


def exit_code(report: ScanReport, threshold: Severity) -> int:
    if report.broken:  # a policy error, though the report was written
        return EXIT_USAGE
    if report.failing_count(threshold):
        return EXIT_FAILED
    if any(p.level is Level.ERROR for p in report.problems):
        return EXIT_FAILED
    if report.counts()[Verdict.ERROR.value]:
        return EXIT_FAILED
    return EXIT_OK
