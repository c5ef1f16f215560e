"""``leitplanke agent``: the cluster agent, one per cluster, until it is stopped.

Reads the options, starts ``leitplanke.agent.running.Agent`` and serves its metrics; ``--once`` ends
after the first complete set of reports and uploads (a CronJob's audit, or a check from a shell).
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from leitplanke.cli import gathering
from leitplanke.core.problems import UsageError

# cli and agent are sibling layers: the agent is imported by name, as ``webhook`` imports the service's app
RUNNING = "leitplanke.agent.running"


def agent_command(
    cluster: Annotated[str, typer.Option("--cluster", help="The cluster's name, in reports and uploads.")],
    kubeconfig: Annotated[
        str | None,
        typer.Option("--kubeconfig", metavar="PATH", help="Kubeconfig file (default: in-cluster)."),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="The kubeconfig's context to use.")] = None,
    service: Annotated[
        str | None, typer.Option("--service", metavar="URL", help="The governance service to upload to.")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", metavar="PATH", help="File holding the service's API token."),
    ] = None,
    pack: gathering.PackOpt = None,
    policies: gathering.PoliciesOpt = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="RESOURCE",
            help="Also leave out this type (pods, leases.coordination.k8s.io).",
        ),
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", help="Environment of objects without one (default: --cluster).")
    ] = None,
    app_label: Annotated[
        str, typer.Option("--app-label", help="Label naming an object's app.")
    ] = "leitplanke.dev/app",
    env_label: Annotated[
        str, typer.Option("--env-label", help="Label naming an object's environment.")
    ] = "leitplanke.dev/env",
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", metavar="PATH", help="Where upload progress survives restarts."),
    ] = None,
    openreports: Annotated[
        bool, typer.Option("--openreports", help="Write openreports.io reports instead.")
    ] = False,
    max_results: Annotated[
        int, typer.Option("--max-results", help="Results per report before it is split.")
    ] = 500,
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Port of /metrics (0: none).")] = 9090,
    drift_config: Annotated[
        Path | None,
        typer.Option(
            "--drift-config",
            metavar="FILE",
            help="Compare live objects with Git: targets (repo, revision, path, app, env) in YAML.",
        ),
    ] = None,
    evaluations_per_worker: Annotated[
        int,
        typer.Option(
            "--evaluations-per-worker",
            help="Evaluations before the evaluator process is replaced (0: evaluate in the agent's process).",
        ),
    ] = 20_000,
    once: Annotated[
        bool, typer.Option("--once", help="Stop after the first complete reports and uploads.")
    ] = False,
) -> None:
    """Audit every object of a cluster with the policies, write PolicyReports back and upload findings."""
    if service and not token_file:
        raise UsageError("--service needs --token-file")
    if max_results < 1:
        raise UsageError(f"--max-results {max_results}: must be 1 or more")
    if evaluations_per_worker < 0:
        raise UsageError(f"--evaluations-per-worker {evaluations_per_worker}: must be 0 or more")
    token = _read_token(token_file) if token_file else ""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    running: Any = importlib.import_module(RUNNING)
    processing: Any = importlib.import_module("leitplanke.agent.processing")
    discovering: Any = importlib.import_module("leitplanke.agent.discovering")
    drifting: Any = importlib.import_module("leitplanke.agent.drifting")
    options = running.Options(
        cluster_name=cluster,
        kubeconfig=kubeconfig,
        context=context,
        service_url=service or "",
        token=token,
        policy_paths=tuple(policies or ()),
        packs=tuple(pack or ()),
        exclusions=(*discovering.DEFAULT_EXCLUSIONS, *(exclude or ())),
        scoping=processing.Scoping(app_label=app_label, env_label=env_label, env=env or ""),
        state_dir=state_dir,
        openreports=openreports,
        max_results=max_results,
        drift=None if drift_config is None else drifting.load_config(drift_config),
        evaluations_per_worker=evaluations_per_worker,
    )
    agent = running.Agent(options)
    agent.start()
    if metrics_port:
        importlib.import_module("leitplanke.agent.metrics").serve_metrics(agent.figures, port=metrics_port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        if once:
            if not agent.wait_for_flush(timeout=3600):
                raise UsageError("the first complete set of reports was not written within an hour")
        else:
            done.wait()
    finally:
        agent.stop()


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"--token-file {path}: {exc.strerror or exc}") from exc
    if not token:
        raise UsageError(f"--token-file {path}: the file is empty")
    return token
