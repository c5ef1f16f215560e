"""A real Prometheus (Debian's ``prometheus``) on a free loopback port, its TSDB filled beforehand by
``promtool tsdb create-blocks-from openmetrics``; optionally behind basic auth (its web config).

Skips with a clear message when the binaries are missing, fails instead with CI=true.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require(*binaries: str) -> None:
    missing = [name for name in binaries if shutil.which(name) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (scripts/setup-system.sh installs prometheus, prometheus-alertmanager)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true: fails instead of skipping", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, and kill what does not end within 20 seconds."""
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def create_blocks(openmetrics: str, *, data: Path) -> None:
    source = data.parent / "series.om"
    source.write_text(openmetrics)
    data.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _ready(port: int, headers: dict[str, str]) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/-/ready", headers=headers)
        return connection.getresponse().status == 200
    except OSError:
        return False


@contextmanager
def running(*, data: Path, basic_auth: tuple[str, str] | None = None) -> Iterator[str]:
    """Prometheus over ``data`` until the block ends; yields its base URL."""
    import base64
    import crypt as _crypt  # bcrypt for the web config; in the standard library until 3.13

    folder = data.parent
    config = folder / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    args = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=30d",
        "--log.level=warn",
    ]
    headers: dict[str, str] = {}
    if basic_auth is not None:
        user, password = basic_auth
        hashed = _crypt.crypt(password, _crypt.mksalt(_crypt.METHOD_BLOWFISH))
        web = folder / "web.yml"
        web.write_text(f"basic_auth_users:\n  {user}: '{hashed}'\n")
        args.append(f"--web.config.file={web}")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _ready(port, headers):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"prometheus did not start: {(folder / 'prometheus.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()
