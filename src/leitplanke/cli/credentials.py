"""The API token of the commands that talk to the service: ``--token-file``, ``LEITPLANKE_TOKEN`` or
``--token``, in that order.

A token given on the command line lands in shell history and CI logs; the environment variable or a
file keeps it out. Called by ``scan --upload``, ``drift --upload`` and ``waivers pull|export``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leitplanke.core.problems import UsageError

ENVVAR = "LEITPLANKE_TOKEN"
GIVE_A_TOKEN = f"--token-file PATH, the environment variable {ENVVAR} or --token"

TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        metavar="TOKEN",
        envvar=ENVVAR,
        show_envvar=True,
        help=f"An API token. Prefer {ENVVAR} or --token-file: a token on the command line lands in "
        "shell history and CI logs.",
    ),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        metavar="FILE",
        help=f"Read the API token from this file (its first line); wins over {ENVVAR} and --token.",
    ),
]


def read_token(token: str | None, token_file: Path | None) -> str | None:
    """The token of ``--token-file`` if given, else of ``--token`` or the environment; None if neither."""
    found = _token_in_file(token_file) if token_file is not None else token or None
    if found is not None and not (found.isascii() and found.isprintable() and " " not in found):
        # an HTTP header carries printable ASCII: a placeholder pasted from the README (lp_…) or a
        # stray character is the caller's mistake, said before any work, not an internal error
        raise UsageError("the API token has characters no token has: was it copied whole?")
    return found


def _token_in_file(token_file: Path) -> str:
    try:
        lines = token_file.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--token-file {token_file}: cannot be read ({exc})") from exc
    if not lines or not lines[0].strip():
        raise UsageError(f"--token-file {token_file}: the file is empty")
    return lines[0].strip()


def check_upload(
    url: str | None, *, app: str | None, env: str | None, token: str | None, token_file: Path | None
) -> str:
    """The token of an upload (``scan``, ``drift``) whose options are all there; else every missing one in
    one message. Called when any of ``--upload``, ``--app`` and ``--env`` is given."""
    if url is None:
        raise UsageError("--app and --env name what --upload sends; without --upload they do nothing")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--upload {url!r}: expected the service's URL, http:// or https://")
    found = read_token(token, token_file)
    missing = [name for name, value in (("--app", app), ("--env", env)) if not value]
    if found is None:
        missing.append(f"an API token ({GIVE_A_TOKEN})")
    if missing:
        raise UsageError(f"--upload needs {_and(missing)}")
    assert found is not None
    return found


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def require_token(token: str | None, token_file: Path | None, *, command: str) -> str:
    found = read_token(token, token_file)
    if found is None:
        raise UsageError(f"{command} needs an API token: {GIVE_A_TOKEN}")
    return found
