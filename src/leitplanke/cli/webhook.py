"""``leitplanke webhook``: the validating and mutating admission webhook over HTTPS on Uvicorn.

Gathers and compiles the policies as ``scan`` does (``cli/gathering``), builds the service's
webhook app with them and serves it with TLS 1.2+ from files that are reloaded when they change.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from leitplanke.cli import certificates, gathering, options
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
) -> None:
    """Answer admission.k8s.io/v1 AdmissionReviews on POST /validate and /mutate (and /healthz, /readyz,
    /metrics) over HTTPS, with the modes of the config's admission section."""
    import uvicorn
    from uvicorn.importer import import_from_string

    if pssversions.parse_version(pss_version) is None:
        raise UsageError(f"--pss-version {pss_version!r}: use latest or v1.N, such as v1.30")
    tls = certificates.Certificates(cert_file=cert_file, key_file=key_file)
    gathered = gathering.gather(
        policy_paths=policies or [],
        packs=pack or [],
        waiver_paths=waivers or [],
        config_path=config,
        now=datetime.now(UTC),
    )
    policy_set = gathering.compile_gathered(gathered)
    create = import_from_string(FACTORY)
    app, problems = create(
        policy_set=policy_set,
        admission_section=gathered.config.admission,
        config_file=gathered.config.file,
        waivers=gathered.waivers,
        pss_version=pss_version,
    )
    fatal = gathered.fatal + problems
    if fatal or gathered.broken:
        # admission must not run with a policy missing: a broken one would silently pass everything
        for problem in sorted(gathered.problems + problems):
            typer.echo(problem.render(), err=True)
        raise UsageError("the webhook does not start with policy or config errors")
    typer.echo(f"leitplanke webhook: {gathering.describe_sources(gathered)}", err=True)
    typer.echo(f"leitplanke webhook at https://{host}:{port}/validate and /mutate", err=True)
    served = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ssl_context_factory=lambda _config, _default: tls.context,
    )
    # Uvicorn's own loop (uvloop where installed), with the certificate watcher on it
    with asyncio.Runner(loop_factory=served.get_loop_factory()) as runner:
        runner.run(_serve(uvicorn.Server(served), tls))


async def _serve(server: Any, tls: certificates.Certificates) -> None:
    watcher = asyncio.create_task(tls.watch())
    try:
        await server.serve()
    finally:
        watcher.cancel()
