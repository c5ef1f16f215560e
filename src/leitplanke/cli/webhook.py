"""``leitplanke webhook``: the validating and mutating admission webhook over HTTPS on Uvicorn.

Gathers and compiles the policies as ``scan`` does (``cli/gathering``), builds the service's
webhook app with them and serves it with TLS 1.2+ from files that are reloaded when they change
(client certificates required with ``--client-ca-file``), with the decision queue's shipping and the
waiver sync beside it on the same loop (``service/admissionjobs``): in this process, or with
``--workers``/``--max-requests`` in workers forked and recycled by ``cli/supervising``.
"""

from __future__ import annotations

import contextlib
import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from leitplanke.cli import certificates, gathering, options, supervising, webhookmetrics, webhookworkers
from leitplanke.core.problems import UsageError
from leitplanke.engine import pssversions

# cli and service are sibling layers: the webhook app's factory is imported by name, as Uvicorn
# imports ``serve``'s
FACTORY = "leitplanke.service.admission:create_webhook_app"


def webhook_command(
    cert_file: Annotated[
        Path, typer.Option("--cert-file", metavar="PATH", help="TLS certificate (PEM chain).")
    ],
    key_file: Annotated[Path, typer.Option("--key-file", metavar="PATH", help="TLS private key (PEM).")],
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8443,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "0.0.0.0",
    config: gathering.ConfigOpt = None,
    pack: gathering.PackOpt = None,
    policies: gathering.PoliciesOpt = None,
    waivers: options.Waivers = None,
    pss_version: options.PssVersion = "latest",
    client_ca_file: Annotated[
        Path | None,
        typer.Option(
            "--client-ca-file",
            metavar="PATH",
            help="Require a client certificate signed by this CA (mTLS: the API server's client cert).",
        ),
    ] = None,
    queue: Annotated[
        Path | None,
        typer.Option(
            "--queue",
            metavar="PATH",
            help="Record denials, warnings and audited violations through this local queue (a SQLite file).",
        ),
    ] = None,
    queue_fsync: Annotated[
        bool, typer.Option("--queue-fsync", help="fsync every queued decision (survives power loss, slower).")
    ] = False,
    service_url: Annotated[
        str | None,
        typer.Option(
            "--service-url", metavar="URL", help="The service that records decisions and has waivers."
        ),
    ] = None,
    service_token_file: Annotated[
        Path | None,
        typer.Option(
            "--service-token-file", metavar="PATH", help="Service API token (platform-admin), a file."
        ),
    ] = None,
    service_ca_file: Annotated[
        Path | None, typer.Option("--service-ca-file", metavar="PATH", help="CA of an https service URL.")
    ] = None,
    ship_seconds: Annotated[float, typer.Option("--ship-seconds", help="Pause between shipments.")] = 1.0,
    sync_seconds: Annotated[float, typer.Option("--sync-seconds", help="Pause between waiver syncs.")] = 30.0,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes sharing the listening socket.")
    ] = 1,
    max_requests: Annotated[
        int,
        typer.Option(
            "--max-requests",
            min=0,
            help="Replace a worker after this many requests (bounds memory; 0: never).",
        ),
    ] = 0,
    max_requests_jitter: Annotated[
        int,
        typer.Option(
            "--max-requests-jitter", min=0, help="Add up to this many at random per worker (staggers them)."
        ),
    ] = 0,
) -> None:
    """Answer admission.k8s.io/v1 AdmissionReviews on POST /validate and /mutate (and /healthz, /readyz,
    /metrics) over HTTPS, with the modes of the config's admission section."""
    from uvicorn.importer import import_from_string

    # before anything imports prometheus_client: workers add up their metrics in a directory they share
    with contextlib.ExitStack() as stack:
        pooled = workers > 1 or max_requests > 0
        metrics_directory = stack.enter_context(webhookmetrics.shared_directory()) if pooled else None
        if pssversions.parse_version(pss_version) is None:
            raise UsageError(f"--pss-version {pss_version!r}: use latest or v1.N, such as v1.30")
        tls = certificates.Certificates(cert_file=cert_file, key_file=key_file, client_ca_file=client_ca_file)
        token = _service_token(service_url, service_token_file)
        gathered = gathering.gather(
            policy_paths=policies or [],
            packs=pack or [],
            waiver_paths=waivers or [],
            config_path=config,
            now=datetime.now(UTC),
        )
        policy_set = gathering.compile_gathered(gathered, cached=False)
        # the app is made in each worker (its queue connection must not cross a fork); once here, without
        # the queue, to refuse a bad config before anything listens
        make_app = functools.partial(
            import_from_string(FACTORY),
            policy_set=policy_set,
            admission_section=gathered.config.admission,
            config_file=gathered.config.file,
            waivers=gathered.waivers,
            pss_version=pss_version,
            metrics_directory=metrics_directory,
        )
        _, problems = make_app()
        fatal = gathered.fatal + problems
        if fatal or gathered.broken:
            # admission must not run with a policy missing: a broken one would silently pass everything
            for problem in sorted(gathered.problems + problems):
                typer.echo(problem.render(), err=True)
            raise UsageError("the webhook does not start with policy or config errors")
        typer.echo(f"leitplanke webhook: {gathering.describe_sources(gathered)}", err=True)
        plan = webhookworkers.WorkerPlan(
            make_app=lambda: make_app(queue_path=queue, queue_fsync=queue_fsync)[0],
            tls=tls,
            jobs={
                "service_url": service_url,
                "token": token,
                "ca_file": service_ca_file,
                "ship_seconds": ship_seconds,
                "sync_seconds": sync_seconds,
            },
            max_requests=max_requests,
            max_requests_jitter=max_requests_jitter,
        )
        _run(plan, host=host, port=port, workers=workers, metrics_directory=metrics_directory)


def _run(
    plan: webhookworkers.WorkerPlan, *, host: str, port: int, workers: int, metrics_directory: Path | None
) -> None:
    """Serve in this process (one worker, no limit) or through the pre-fork supervisor."""
    try:
        listener = supervising.bind(host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc}") from exc
    typer.echo(f"leitplanke webhook at https://{host}:{port}/validate and /mutate", err=True)
    if workers == 1 and not plan.max_requests:
        plan.run(listener, announce_fd=None)
        return
    typer.echo(f"leitplanke webhook: {workers} workers, each replaced after {_limit(plan)}", err=True)
    supervisor = supervising.Supervisor(
        workers=workers,
        run_worker=lambda announce_fd: plan.run(listener, announce_fd=announce_fd),
        log=lambda line: typer.echo(f"leitplanke webhook: {line}", err=True),
        on_exit=lambda pid: _forget(pid, metrics_directory),
    )
    supervisor.supervise()


def _forget(pid: int, metrics_directory: Path | None) -> None:
    if metrics_directory is not None:
        webhookmetrics.forget_worker(pid, directory=metrics_directory)


def _limit(plan: webhookworkers.WorkerPlan) -> str:
    if not plan.max_requests:
        return "never (no --max-requests)"
    return f"{plan.max_requests} to {plan.max_requests + plan.max_requests_jitter} requests"


def _service_token(url: str | None, token_file: Path | None) -> str:
    if url is None:
        return ""
    if token_file is None:
        raise UsageError("--service-url needs --service-token-file (a platform-admin token of the service)")
    try:
        return token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"cannot read the service token {token_file}: {exc}") from exc
