"""The API token of ``scan --upload`` and ``waivers pull|export`` comes from ``--token-file``,
``LEITPLANKE_TOKEN`` or ``--token`` (real CLI processes against a real HTTP server on loopback); a
missing token is reported before the scan runs; ``tokens create|list`` name the token's subject."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).parents[2] / "src"  # the processes run this checkout's code
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
  - name: web
    image: nginx:1.27
"""
MISSING = (
    "leitplanke: --upload needs an API token (--token-file PATH, the environment variable "
    "LEITPLANKE_TOKEN or --token)\n"
)


class Recorder(BaseHTTPRequestHandler):
    """Answers an upload with 201 and an export with an empty YAML; keeps (method, path, token)."""

    seen: list[tuple[str, str, str]]

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.seen.append((self.command, self.path.split("?")[0], self.headers.get("Authorization", "")))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # the CLI streams its upload
            while size := int(self.rfile.readline().split(b";")[0], 16):
                self.rfile.read(size + 2)
            self.rfile.readline()
        else:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(201, json.dumps({"scan": 7, "transitions": {}}).encode(), "application/json")

    def do_GET(self) -> None:
        self._answer(200, b"", "application/yaml")

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    seen: list[tuple[str, str, str]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _run(tmp_path: Path, *args: str, token_env: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEITPLANKE_TOKEN", "COLUMNS", "FORCE_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
    if token_env is not None:
        env["LEITPLANKE_TOKEN"] = token_env
    return subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _upload(url: str) -> tuple[str, ...]:
    return (
        "scan",
        "pod.yaml",
        "-f",
        "json",
        "-o",
        "report.json",
        "--upload",
        url,
        "--app",
        "a",
        "--env",
        "e",
    )


def test_scan_upload_reads_the_token_from_LEITPLANKE_TOKEN(tmp_path: Path, server: Any) -> None:
    url, seen = server
    (tmp_path / "pod.yaml").write_text(POD)
    run = _run(tmp_path, *_upload(url), token_env="lp_from_env")
    assert "uploaded as scan 7 of a in e: no changes" in run.stderr, run.stderr
    assert seen == [("POST", "/api/v1/scans", "Bearer lp_from_env")]


def test_scan_upload_reads_the_token_file_before_the_environment(tmp_path: Path, server: Any) -> None:
    url, seen = server
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "token").write_text("lp_from_file\n")
    run = _run(tmp_path, *_upload(url), "--token-file", "token", token_env="lp_from_env")
    assert "uploaded as scan 7 of a in e: no changes" in run.stderr, run.stderr
    assert seen == [("POST", "/api/v1/scans", "Bearer lp_from_file")]


def test_a_missing_token_is_reported_before_the_scan_runs(tmp_path: Path, server: Any) -> None:
    url, seen = server
    (tmp_path / "pod.yaml").write_text(POD)
    run = _run(tmp_path, *_upload(url))
    assert (run.returncode, run.stdout, run.stderr) == (2, "", MISSING)
    assert not (tmp_path / "report.json").exists()  # the scan did not run
    assert seen == []


def test_an_empty_token_file_is_reported(tmp_path: Path, server: Any) -> None:
    url, seen = server
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "token").write_text("\n")
    run = _run(tmp_path, *_upload(url), "--token-file", "token")
    assert (run.returncode, run.stderr) == (2, "leitplanke: --token-file token: the file is empty\n")
    assert seen == []


def test_a_token_that_is_not_printable_ascii_is_reported_before_the_scan_runs(
    tmp_path: Path, server: Any
) -> None:
    url, seen = server
    (tmp_path / "pod.yaml").write_text(POD)
    run = _run(tmp_path, *_upload(url), token_env="lp_…")
    assert (run.returncode, run.stdout, run.stderr) == (
        2,
        "",
        "leitplanke: the API token has characters no token has: was it copied whole?\n",
    )
    assert not (tmp_path / "report.json").exists()  # the scan did not run
    assert seen == []


@pytest.mark.parametrize("command", ["pull", "export"])
def test_waivers_commands_read_the_token_file_or_the_environment(
    tmp_path: Path, server: Any, command: str
) -> None:
    url, seen = server
    (tmp_path / "token").write_text("lp_from_file")
    args = ("waivers", command, "--server", url, "--app", "checkout", "--env", "prod")
    assert _run(tmp_path, *args, "--token-file", "token").returncode == 0
    assert _run(tmp_path, *args, token_env="lp_from_env").returncode == 0
    missing = _run(tmp_path, *args)
    assert (missing.returncode, missing.stderr) == (
        2,
        f"leitplanke: waivers {command} needs an API token: --token-file PATH, the environment variable "
        "LEITPLANKE_TOKEN or --token\n",
    )
    assert [token for _, _, token in seen] == ["Bearer lp_from_file", "Bearer lp_from_env"]


def test_the_help_names_the_environment_variable_and_the_file(tmp_path: Path) -> None:
    for command in (("scan",), ("waivers", "pull"), ("waivers", "export")):
        help_text = " ".join(_run(tmp_path, *command, "--help").stdout.split())
        assert "LEITPLANKE_TOKEN" in help_text and "--token-file" in help_text, command


def test_tokens_are_created_for_a_subject_listed_and_their_names_unique_per_subject(tmp_path: Path) -> None:
    database = ("--database", f"sqlite:///{tmp_path / 'lp.db'}")
    alice = ("tokens", "create", "--role", "platform-admin", "--name", "laptop", *database)
    created = _run(tmp_path, *alice, "--subject", "user:alice@example.com")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("lp_")
    assert created.stderr == "token 1 laptop of user:alice@example.com (platform-admin)\n"
    again = _run(tmp_path, *alice, "--subject", "user:alice@example.com")
    assert (again.returncode, again.stderr) == (
        2,
        "leitplanke: user:alice@example.com already has a token named 'laptop'\n",
    )
    assert _run(tmp_path, *alice).returncode == 2  # --subject is required
    assert _run(tmp_path, *alice, "--subject", "user:bob@example.com").returncode == 0
    listed = _run(tmp_path, "tokens", "list", *database)
    assert [line.split("\t")[:5] for line in listed.stdout.splitlines()] == [
        ["1", "user:alice@example.com", "laptop", "platform-admin", "-"],
        ["2", "user:bob@example.com", "laptop", "platform-admin", "-"],
    ]
