"""Workers recycled under load (``--workers``, ``--max-requests``), over real HTTPS: no request is lost
while workers retire and are replaced, the decisions of every worker reach a real ``serve`` once, one
worker ships the shared queue at a time, each worker reloads a rotated certificate, a killed worker is
replaced and SIGTERM stops them all.

The recording test runs on SQLite and PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from admissionreviews import build_review, pod
from recordingservices import CONFIG, Service, running_service, wait_until
from webhookservers import CONFIG as CONFIG_FILE, POLICIES, Webhook, start_webhook, stop

from leitplanke.service import admissionrecycling, admissionshipping
from leitplanke.service.admissionqueues import DecisionQueue

RECYCLING = ("--workers", "2", "--max-requests", "60", "--max-requests-jitter", "20")


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def _load(
    webhook: Webhook, *, clients: int, each: int, privileged: bool, namespace: str = "shop"
) -> tuple[list[str], list[str]]:
    """``clients`` threads, each on its own keep-alive connection, send ``each`` reviews back to back;
    (the uids sent, what went wrong: anything but a 200 with a well-formed AdmissionReview of that uid)."""
    sent: list[str] = []
    wrong: list[str] = []

    def client(number: int) -> None:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", webhook.port, context=webhook.client_context(), timeout=30
        )
        for index in range(each):
            uid = f"load-{number}-{index:04d}"
            review = build_review(
                pod(f"web-{number}-{index}", privileged=privileged), namespace=namespace, uid=uid
            )
            sent.append(uid)
            try:  # http.client opens a new connection after an answer with Connection: close
                connection.request(
                    "POST", "/validate", json.dumps(review), {"Content-Type": "application/json"}
                )
                answer = connection.getresponse()
                status, body = answer.status, json.loads(answer.read())
            except (OSError, http.client.HTTPException, ValueError) as exc:
                wrong.append(f"{uid}: {exc!r}")
                connection.close()
                continue
            shape = (status, body.get("apiVersion"), body.get("kind"), body["response"]["uid"])
            if shape != (200, "admission.k8s.io/v1", "AdmissionReview", uid):
                wrong.append(f"{uid}: {shape}")
            elif body["response"]["allowed"] is privileged:
                wrong.append(f"{uid}: allowed {body['response']['allowed']}")
        connection.close()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(sent), wrong


def _supervisor_log(webhook: Webhook) -> list[str]:
    return [line for line in webhook.log.read_text().splitlines() if "worker" in line]


def _announced(webhook: Webhook) -> int:
    return sum(line.endswith("its replacement starts now") for line in _supervisor_log(webhook))


def _retired(webhook: Webhook) -> int:
    return sum(line.endswith("(recycled)") for line in _supervisor_log(webhook))


@pytest.fixture
def service(database_url: str, audit_keys: object, catalog_yaml: str, tmp_path: Path) -> Iterator[Service]:
    folder = tmp_path / "service"
    folder.mkdir()
    with running_service(database_url, audit_keys, catalog_yaml, folder) as running:
        yield running


def test_workers_recycled_under_continuous_load_answer_every_request_and_record_each_decision_once(
    service: Service, tmp_path: Path
) -> None:
    folder = tmp_path / "webhook"
    folder.mkdir()
    (folder / "leitplanke.yaml").write_text(CONFIG)
    webhook = start_webhook(
        folder,
        "--pack", "none", "--policies", str(POLICIES), "--config", str(folder / "leitplanke.yaml"),
        "--queue", str(tmp_path / "queue.sqlite"),
        "--service-url", service.url, "--service-token-file", str(service.token_file()),
        "--ship-seconds", "0.2", *RECYCLING,
    )  # fmt: skip
    try:
        sent, wrong = _load(webhook, clients=4, each=100, privileged=True)
        wait_until(lambda: service.recorded() == sent, what="every decision recorded", seconds=90)
        wait_until(lambda: _retired(webhook) == _announced(webhook), what="the retiring workers to exit")
    finally:
        stop(webhook)
    assert wrong == []
    log = _supervisor_log(webhook)
    recycled = [line for line in log if line.endswith("(recycled)")]
    # 400 requests (and the start's /healthz) over workers of 60 to 80 requests: at least four retire
    assert len(recycled) >= 4, "\n".join(log)
    assert all(re.search(r"worker \d+ exited with code 0 \(recycled\)$", line) for line in recycled), (
        "\n".join(log)
    )
    # every retiring worker was replaced when it announced it, before it exited
    announced = [line for line in log if line.endswith("its replacement starts now")]
    assert len([line for line in log if line.endswith(" started")]) == 2 + len(announced), "\n".join(log)
    targets = [target for target, _ in service.audited()]
    assert sorted(targets) == [f"admission:{uid}" for uid in sent]  # each decision audited once
    assert webhook.process.returncode == 0


class _Recorder(BaseHTTPRequestHandler):
    posted: list[str]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).posted.extend(decision["uid"] for decision in body["decisions"])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: Any) -> None:
        return


class _Count:
    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


def test_two_shippers_of_one_queue_file_ship_each_decision_once_through_the_lock(tmp_path: Path) -> None:
    recorder = type("Recorder", (_Recorder,), {"posted": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = admissionshipping.ServiceClient(url=f"http://127.0.0.1:{server.server_address[1]}", token="t")

    def shipper() -> admissionshipping.Shipper:
        queue = DecisionQueue(tmp_path / "queue.sqlite")
        lock = admissionshipping.ShippingLock(tmp_path / "queue.ship-lock")
        return admissionshipping.Shipper(
            queue=queue, client=client, shipped=_Count(), failed=_Count(), lock=lock
        )

    first, second = shipper(), shipper()  # two workers' connections to one file
    for number in range(6):
        (first if number % 2 else second).queue.append(
            f"u{number}", json.dumps({"uid": f"u{number}"}).encode()
        )

    async def ship() -> tuple[int, int, int, int]:
        shipped = await first.ship_once(), await second.ship_once()
        second.queue.append("u6", b'{"uid": "u6"}')
        left = await first.drain(seconds=5)  # the first retires and lets go of the lock
        second.queue.append("u7", b'{"uid": "u7"}')
        return (*shipped, left, await second.ship_once())

    try:
        assert asyncio.run(ship()) == (6, 0, 0, 1)
    finally:
        server.shutdown()
        for each in (first, second):
            each.queue.close()
            assert each.lock is not None
            each.lock.release()
    assert recorder.posted == ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Webhook]:
    served = start_webhook(
        tmp_path, "--pack", "none", "--policies", str(POLICIES), "--workers", "2", "--max-requests", "1000"
    )
    yield served
    stop(served)


def test_each_worker_serves_a_rotated_certificate_and_a_killed_worker_is_replaced(workers: Webhook) -> None:
    wait_until(lambda: len(_children(workers.process.pid)) == 2, what="two workers")
    workers.authority.issue(workers.folder, common_name="webhook-2")
    # new connections land on either worker: ten in a row that see the new chain see both
    wait_until(
        lambda: {workers.peer_common_name() for _ in range(10)} == {"webhook-2"},
        what="both workers reloading",
    )
    before = _children(workers.process.pid)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(_children(workers.process.pid) - {victim}) == 2, what="a replacement")
    sent, wrong = _load(workers, clients=2, each=20, privileged=False)
    assert (len(sent), wrong) == (40, [])
    assert f"worker {victim} exited on signal SIGKILL" in "\n".join(_supervisor_log(workers))


def test_sigterm_stops_the_supervisor_and_every_worker(workers: Webhook) -> None:
    wait_until(lambda: len(_children(workers.process.pid)) == 2, what="two workers")
    children = _children(workers.process.pid)
    workers.process.send_signal(signal.SIGTERM)
    assert workers.process.wait(timeout=30) == 0
    assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []


def test_a_single_worker_is_replaced_before_it_leaves_and_no_request_is_lost(tmp_path: Path) -> None:
    webhook = start_webhook(
        tmp_path, "--pack", "none", "--policies", str(POLICIES), "--config", str(CONFIG_FILE),
        "--max-requests", "30",
    )  # fmt: skip
    try:
        sent, wrong = _load(webhook, clients=3, each=40, privileged=False, namespace="default")
        wait_until(lambda: _retired(webhook) == _announced(webhook), what="the retiring worker to exit")
    finally:
        stop(webhook)
    assert (len(sent), wrong) == (120, [])
    assert _retired(webhook) >= 3  # 120 reviews and a /healthz over workers of 30
    assert "1 workers, each replaced after 30 to 30 requests" in webhook.log.read_text()


async def _through(app: Any, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
    return sent


def test_from_its_limit_on_a_worker_answers_with_connection_close_and_retires_once() -> None:
    async def answer(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    retired: list[int] = []
    recycling = admissionrecycling.Recycling(answer, 2, lambda: retired.append(recycling.served))

    async def three() -> list[list[tuple[bytes, bytes]]]:
        answers = [await _through(recycling, f"/{n}") for n in range(3)]
        return [list(messages[0]["headers"]) for messages in answers]

    assert asyncio.run(three()) == [
        [(b"content-type", b"text/plain")],
        [(b"content-type", b"text/plain"), (b"connection", b"close")],
        [(b"content-type", b"text/plain"), (b"connection", b"close")],
    ]
    assert retired == [2]
