"""``leitplanke serve``: the governance service on Uvicorn, optionally seeded with the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

FACTORY = "leitplanke.service.apps:create_app_from_environment"


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo catalog and scans of ./examples and print a token.")
    ] = False,
) -> None:
    """Run the REST API (/api/v1, /healthz, /readyz, /metrics, /docs) and the portal (/portal/) on the
    configured database."""
    import uvicorn

    from leitplanke.cli import db, servicecommands
    from leitplanke.settings import load_settings  # pydantic-settings: only for the service

    settings = load_settings()
    database = servicecommands.open_database(settings.database_url)
    url = f"http://{host}:{port}"
    if demo:
        token = db.seed_demo(database, examples=Path("examples"), data_dir=settings.data_dir)
        users = db.seed_portal_users(database)
        typer.echo(f"leitplanke demo at {url}  (API docs: {url}/docs)")
        typer.echo(f"portal: {url}/portal/  sign in as one of (passwords shown once):")
        for line in db.demo_user_lines(users):
            typer.echo(f"  {line}")
        typer.echo(f"platform-admin token (shown once): {token}")
        typer.echo(f'try: curl -s -H "Authorization: Bearer {token}" {url}/api/v1/findings?limit=5')
    else:
        typer.echo(f"leitplanke serving at {url} on {database.dialect}")
    database.dispose()
    # cli and service are sibling layers: Uvicorn imports the service's factory by name
    uvicorn.run(FACTORY, factory=True, host=host, port=port, log_level="info")
