"""Real ``leitplanke serve`` processes for the service tests: a free loopback port, a wait for
``/healthz``, and a stop that never hangs."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def wait_for_health(port: int, *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not healthy(port):
        if time.monotonic() > deadline:
            raise AssertionError("leitplanke serve did not start")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def serving(
    args: Sequence[str], *, port: int, cwd: Path, env: Mapping[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``args`` (a ``serve`` command on ``port``) running until the block ends, answering /healthz."""
    process = subprocess.Popen(
        args, cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_health(port)
        yield process
    finally:
        stop(process)
