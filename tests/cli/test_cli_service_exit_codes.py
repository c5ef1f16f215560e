"""Exit codes of the commands that talk to the service: 4 when it cannot be reached, 5 when it
refuses; an upload that lacks an option fails before the scan runs."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

BASELINE = ("--pack", "pss-baseline", "-j", "1")


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def refusing_service():
    """A service that answers every request with 401."""

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            while True:  # the upload comes chunked: read it to its last chunk before answering
                size = int(self.rfile.readline().strip() or b"0", 16)
                self.rfile.read(size + 2)
                if size == 0:
                    break
            body = b'{"title": "Unauthorized"}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_upload_to_a_closed_port_exits_4_after_writing_the_report(run_cli, examples, closed_port):
    url = f"http://127.0.0.1:{closed_port}"

    run = run_cli(
        "scan", "examples/good", *BASELINE, "-q", "--upload", url, "--app", "shop", "--env", "prod",
        env={"LEITPLANKE_TOKEN": "t0ken"},
    )  # fmt: skip

    assert run.code == 4, run
    assert run.stdout_lines[-1].startswith("9 resources, ")
    assert run.stderr_lines == [f"leitplanke: could not reach {url}: [Errno 111] Connection refused"]


def test_an_upload_the_service_refuses_exits_5(run_cli, examples, refusing_service):
    run = run_cli(
        "scan", "examples/good", *BASELINE, "-q", "--upload", refusing_service, "--app", "shop", "--env", "prod",
        env={"LEITPLANKE_TOKEN": "t0ken"},
    )  # fmt: skip

    assert run.code == 5, run
    assert run.stderr_lines == [
        f'leitplanke: upload to {refusing_service} refused (401): {{"title": "Unauthorized"}}'
    ]


def test_waivers_pull_from_a_closed_port_exits_4(run_cli, closed_port):
    url = f"http://127.0.0.1:{closed_port}"

    run = run_cli(
        "waivers", "pull", "--server", url, "--app", "shop", "--env", "prod", env={"LEITPLANKE_TOKEN": "t"}
    )

    assert (run.code, run.stdout) == (4, ""), run
    assert run.stderr_lines[0].startswith(f"leitplanke: could not reach {url}/api/v1/waivers/export?")


@pytest.mark.parametrize(
    ("args", "token", "message"),
    [
        (
            ("--upload", "http://127.0.0.1:1"),
            None,
            "--upload needs --app, --env and an API token "
            "(--token-file PATH, the environment variable LEITPLANKE_TOKEN or --token)",
        ),
        (("--upload", "http://127.0.0.1:1", "--app", "shop"), "t0ken", "--upload needs --env"),
        (
            ("--upload", "127.0.0.1:8080", "--app", "shop", "--env", "prod"),
            "t0ken",
            "--upload '127.0.0.1:8080': expected the service's URL, http:// or https://",
        ),
        (
            ("--app", "shop", "--env", "prod"),
            None,
            "--app and --env name what --upload sends; without --upload they do nothing",
        ),
    ],
)
def test_what_an_upload_lacks_is_reported_at_once_before_the_scan_runs(
    run_cli, examples, args, token, message
):
    run = run_cli("scan", "examples/bad", *BASELINE, *args, env={"LEITPLANKE_TOKEN": token})

    # no report, no note of the policies run: nothing was scanned
    assert (run.code, run.stdout, run.stderr_lines) == (2, "", [f"leitplanke: {message}"]), run
