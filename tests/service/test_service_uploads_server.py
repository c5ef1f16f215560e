"""The upload path of the real server process (``leitplanke serve``, Uvicorn, SQLite in tmp_path): health
answers within 100 ms while a large upload is parsed and ingested, an anonymous 30 MB body leaves the
server's peak memory where it was, an authorised chunked body over the limit gets 413, and the CLI's
``scan --upload`` sends the compact format that becomes findings."""

from __future__ import annotations

import gc
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import serviceprocesses

import leitplanke
from leitplanke import catalog
from leitplanke.core.results import ScanReport
from leitplanke.governance import access
from leitplanke.reports import jsonreports
from leitplanke.store import databases

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
MIB = 1024 * 1024
# the server runs the code under test (the tests' own import path), not whatever the venv installed
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, token: str) -> None:
        self.process, self.port, self.token = process, port, token

    def peak_rss_kib(self) -> int:
        """VmHWM of the server process: the most memory it ever held."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def get(self, path: str) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())


@pytest.fixture
def server(
    tmp_path: Path, catalog_yaml: str, audit_keys: object, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """``leitplanke serve`` on a fresh SQLite file with the test catalog and a developer token of team-shop
    (the audit keys' variables are in the environment the server inherits)."""
    url = f"sqlite:///{tmp_path / 'server.db'}"
    database = databases.Database(url, audit=audit_keys)
    databases.upgrade(database)
    parsed, problems = catalog.parse_catalog(catalog_yaml)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=NOW)
    token = access.create_token(
        database, subject="service:ci", name="ci", role="developer", team="team-shop", actor="t", now=NOW
    )
    database.dispose()
    port = serviceprocesses.free_port()
    limit = getattr(request, "param", 64 * MIB)
    env = {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": url,
        "LEITPLANKE_DATA_DIR": str(tmp_path),
        "LEITPLANKE_MAX_BODY_BYTES": str(limit),
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }
    with serviceprocesses.serving(
        [LEITPLANKE, "serve", "--port", str(port)], port=port, cwd=tmp_path, env=env
    ) as process:
        yield Server(process, port, token.token)


def _raw_post(port: int, path: str, headers: dict[str, str], chunks: Iterable[bytes]) -> tuple[int, bytes]:
    """POST ``chunks`` (chunked unless a Content-Length is given) while reading the answer in parallel: a
    server that answers before reading the body (401, 413) may close the connection while it is sent."""
    chunked = "Content-Length" not in headers
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else "\r\n"
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:

        def read() -> None:
            try:
                while data := sock.recv(65536):
                    received.extend(data)
            except OSError:
                pass

        reader = threading.Thread(target=read)
        reader.start()
        try:
            sock.sendall(head.encode())
            for chunk in chunks:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed: the answer is read below
            pass
        deadline = time.monotonic() + 120
        while reader.is_alive() and time.monotonic() < deadline:
            if b"\r\n\r\n" in received and _complete(bytes(received)):
                break
            time.sleep(0.01)
        sock.shutdown(socket.SHUT_RDWR)
        reader.join(10)
    status = int(bytes(received).split(b" ", 2)[1])
    return status, bytes(received).split(b"\r\n\r\n", 1)[1]


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _report_body(result: Any, *, count: int, failing: int) -> bytes:
    """An old-format upload: ``count`` results, ``failing`` of them failures, the rest warnings."""
    results = [
        result(
            "no-privileged",
            f"rule-{n % 50}",
            f"web-{n}",
            verdict="fail" if n < failing else "warn",
            path=f"spec.template.spec.containers[{n % 3}].securityContext.privileged",
        )
        for n in range(count)
    ]
    out = io.StringIO()
    jsonreports.write(ScanReport(results=results, documents=count).finish(), out, now=NOW)
    return json.dumps({"app": "checkout", "env": "prod", "scan": json.loads(out.getvalue())}).encode()


def test_health_answers_within_100_ms_while_a_large_upload_is_parsed_and_ingested(
    server: Server, result: Any
) -> None:
    body = _report_body(result, count=50_000, failing=2_000)
    assert len(body) > 20 * MIB
    latencies: list[float] = []
    answer: list[tuple[int, bytes]] = []
    # the process's first database use is paid before: what is measured is the upload's doing
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", "/healthz")
    connection.getresponse().read()
    assert server.get("/api/v1/findings")[0] == 200

    def upload() -> None:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {server.token}"}
        chunks = (body[start : start + MIB] for start in range(0, len(body), MIB))
        answer.append(_raw_post(server.port, "/api/v1/scans", headers, chunks))

    uploader = threading.Thread(target=upload)
    gc.disable()  # the probe's own pauses (this process holds the 25 MB body) are not the server's
    try:
        uploader.start()
        while uploader.is_alive():
            started = time.perf_counter()
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            assert response.status == 200
            time.sleep(0.02)
        uploader.join()
    finally:
        gc.enable()
    status, text = answer[0]
    assert status == 201, text
    assert json.loads(text)["transitions"] == {"none->new": 2_000}
    assert len(latencies) >= 20, latencies  # the health probe ran all along the upload
    assert max(latencies) < 0.1, sorted(latencies)[-5:]


def test_an_anonymous_30_mb_body_leaves_the_servers_peak_memory_where_it_was(server: Server) -> None:
    before = server.peak_rss_kib()
    body = b'{"app": "checkout", "scan": {"results": [' + b'{"policy": "p"},' * (2 * MIB) + b"{}]}}"
    assert len(body) > 30 * MIB
    sent = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    for path in ("/api/v1/scans", "/api/v1/teams", "/api/v1/waivers"):
        status, text = _raw_post(
            server.port, path, sent, [body[i : i + MIB] for i in range(0, len(body), MIB)]
        )
        assert status == 401, text
        chunked = {"Content-Type": "application/json", "Authorization": "Bearer lp_unknown"}
        status, text = _raw_post(
            server.port, path, chunked, [body[i : i + MIB] for i in range(0, len(body), MIB)]
        )
        assert status == 401, text
    grown = server.peak_rss_kib() - before
    assert grown < 16 * 1024, f"the peak grew by {grown} KiB"


@pytest.mark.parametrize("server", [MIB], indirect=True)
def test_an_authorised_chunked_body_over_the_limit_gets_413(server: Server) -> None:
    headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {server.token}"}
    status, text = _raw_post(server.port, "/api/v1/scans", headers, [b"{}\n" * 65536] * 8)
    assert status == 413
    assert json.loads(text) == {
        "type": "about:blank",
        "title": "Payload too large",
        "status": 413,
        "detail": f"the request body is larger than {MIB} bytes",
        "field": "body",
        "limit": MIB,
    }
    assert server.get("/api/v1/findings")[1]["total"] == 0


def test_scan_upload_sends_the_compact_format_that_becomes_findings(server: Server, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "web.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
        "        securityContext: {privileged: true}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])}
    scanned = subprocess.run(
        [
            LEITPLANKE,
            "scan",
            str(manifests),
            "--pack",
            "pss-baseline",
            "--upload",
            f"http://127.0.0.1:{server.port}",
            "--app",
            "checkout",
            "--env",
            "prod",
            "--token",
            server.token,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert scanned.returncode == 1, scanned.stderr
    assert "uploaded as scan 1 of checkout in prod: none->new 1" in scanned.stderr
    status, page = server.get("/api/v1/findings")
    assert status == 200
    assert [
        (f["policy"], f["resource"]["kind"], f["resource"]["namespace"], f["resource"]["name"], f["status"])
        for f in page["items"]
    ] == [("disallow-privileged-containers", "Deployment", "shop", "web", "new")]
