"""The parts of recording on their own: the durable queue (a SQLite file), the record built of one
answer (what is recorded and what is not), and the service's waiver listing read at the webhook."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from admissionreviews import build_review, pod

from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.service import admissionrecords, admissionwaivers
from leitplanke.service.admissionmodes import Decision
from leitplanke.service.admissionqueues import DecisionQueue
from leitplanke.sources import admission

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_queue_keeps_one_row_per_uid_in_order_and_survives_being_reopened(tmp_path: Path) -> None:
    queue = DecisionQueue(tmp_path / "q.sqlite")
    assert [queue.append(uid, uid.encode()) for uid in ("a", "b", "a", "c")] == [True, True, False, True]
    assert queue.peek(2) == [(1, b"a"), (2, b"b")]
    queue.remove_through(2)
    queue.close()
    reopened = DecisionQueue(tmp_path / "q.sqlite")
    assert (reopened.peek(10), reopened.depth()) == ([(4, b"c")], 1)


def _review(*, dry_run: bool = False) -> admission.Review:
    parsed = admission.parse_review(
        orjson.dumps(build_review(pod("web", privileged=True), namespace="shop", uid="u-1", dry_run=dry_run))
    )
    assert isinstance(parsed, admission.Review)
    return parsed


def _failing(verdict: Verdict = Verdict.FAIL, waiver: str = "") -> Result:
    return Result(
        policy="no-privileged",
        rule="unprivileged",
        resource=Resource("v1", "Pod", "", "web"),
        verdict=verdict,
        severity=Severity.HIGH,
        message="container app is privileged",
        location=Location(file="", line=0, path="spec.containers[0].securityContext.privileged"),
        waiver=waiver,
    )


def test_a_denial_is_recorded_with_its_app_environment_user_object_and_failing_results() -> None:
    record = admissionrecords.build_record(
        _review(),
        Decision(False, "deny", "m"),
        [_failing()],
        mode="enforce",
        app="checkout",
        env="prod",
        now=NOW,
    )
    assert record is not None
    assert orjson.loads(record) == {
        "uid": "u-1",
        "decidedAt": "2026-12-07T12:00:00+00:00",
        "app": "checkout",
        "env": "prod",
        "mode": "enforce",
        "outcome": "deny",
        "operation": "CREATE",
        "user": "alice",
        "resource": {"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web"},
        "results": [
            {
                "policy": "no-privileged",
                "rule": "unprivileged",
                "verdict": "fail",
                "severity": "high",
                "message": "container app is privileged",
                "path": "spec.containers[0].securityContext.privileged",
                "waiver": "",
            }
        ],
    }


def test_dry_runs_exempt_requests_and_clean_passes_are_not_recorded() -> None:
    failing = [_failing()]
    denied = Decision(False, "deny", "m")
    assert (
        admissionrecords.build_record(
            _review(dry_run=True), denied, failing, mode="enforce", app="a", env="e", now=NOW
        )
        is None
    )
    exempt = Decision(True, "exempt")
    assert (
        admissionrecords.build_record(_review(), exempt, failing, mode="enforce", app="a", env="e", now=NOW)
        is None
    )
    clean = Decision(True, "allow")
    passed = [_failing(Verdict.PASS)]
    assert (
        admissionrecords.build_record(_review(), clean, passed, mode="enforce", app="a", env="e", now=NOW)
        is None
    )


def test_an_audited_violation_and_a_waived_failure_are_recorded_though_allowed() -> None:
    allowed = Decision(True, "allow")
    for result in (_failing(), _failing(Verdict.SKIP, waiver="waiver-3")):
        record = admissionrecords.build_record(
            _review(), allowed, [result], mode="audit", app="a", env="e", now=NOW
        )
        assert record is not None
        assert orjson.loads(record)["results"][0]["verdict"] == result.verdict.value


def test_only_approved_unexpired_waivers_of_the_listing_are_kept_per_app_and_environment() -> None:
    def waiver(
        number: int, *, status: str = "approved", expires: str = "2027-01-01T00:00:00Z"
    ) -> dict[str, object]:
        return {
            "id": number,
            "name": f"waiver-{number}",
            "app": "checkout",
            "env": "prod",
            "team": "team-shop",
            "policies": ["no-privileged"],
            "rules": [],
            "resources": [{"kind": "Pod", "namespace": "shop", "name": "web"}],
            "justification": "why",
            "status": status,
            "requester": "dev",
            "decidedBy": "approver",
            "expires": expires,
        }

    listing = [
        waiver(1),
        waiver(2, status="requested"),
        waiver(3, expires="2026-01-01T00:00:00Z"),
        {"name": 4},
    ]
    book = admissionwaivers.parse_waivers(orjson.dumps(listing), now=NOW)
    assert list(book) == [("checkout", "prod")]
    (kept,) = book[("checkout", "prod")]
    assert (kept.name, kept.policies, kept.owner, kept.approver) == (
        "waiver-1",
        ("no-privileged",),
        "team-shop",
        "approver",
    )
    assert kept.covers(
        policy="no-privileged", rule="unprivileged", resource=Resource("v1", "Pod", "shop", "web")
    )
    assert not kept.covers(
        policy="no-privileged", rule="unprivileged", resource=Resource("v1", "Pod", "shop", "db")
    )


def test_with_checkpoints_elsewhere_a_checkpoint_from_another_thread_empties_the_wal(tmp_path: Path) -> None:
    import threading

    queue = DecisionQueue(tmp_path / "q.sqlite")
    queue.checkpoint_elsewhere()
    for number in range(2000):
        queue.append(f"u{number}", b"x" * 500)
    wal = tmp_path / "q.sqlite-wal"
    assert wal.stat().st_size > 1_000_000  # no checkpoint by the appends
    queue.remove_through(2000)
    complete: list[bool] = []
    worker = threading.Thread(target=lambda: complete.append(queue.checkpoint()))
    worker.start()
    worker.join()
    assert complete == [True]
    queue.append("after", b"y")  # the first writer after a complete checkpoint starts the WAL over
    assert queue.peek(5) == [(2001, b"y")]


def test_close_waits_for_a_checkpoint_in_progress_and_later_checkpoints_do_nothing(tmp_path: Path) -> None:
    # at a worker's stop the shipper's task is cancelled while its checkpoint thread may still run:
    # closing under it was a use of a closed connection (a worker died of SIGSEGV at its recycling)
    import threading

    queue = DecisionQueue(tmp_path / "q.sqlite")
    queue.checkpoint_elsewhere()
    for number in range(500):
        queue.append(f"u{number}", b"x" * 500)
    outcomes: list[object] = []
    started, closed = threading.Event(), threading.Event()

    def checkpoints() -> None:
        started.set()
        try:
            while not closed.is_set():
                outcomes.append(queue.checkpoint())
            outcomes.append(queue.checkpoint())  # one after the close
        except BaseException as exc:  # the failure this test looks for
            outcomes.append(exc)

    worker = threading.Thread(target=checkpoints)
    worker.start()
    started.wait()
    queue.close()
    closed.set()
    worker.join()
    assert all(isinstance(outcome, bool) for outcome in outcomes), outcomes[-1]
    assert outcomes[-1] is False  # after the close: nothing opened again, nothing written
    assert queue.checkpoint() is False
    assert DecisionQueue(tmp_path / "q.sqlite").depth() == 500


def test_a_decision_the_service_refuses_is_dropped_alone_and_the_others_are_shipped(tmp_path: Path) -> None:
    """A real HTTP server on loopback that refuses (422) every batch holding ``"bad"``."""
    import asyncio
    import http.server
    import threading

    from prometheus_client import CollectorRegistry, Counter

    from leitplanke.service.admissionshipping import ServiceClient, Shipper

    taken: list[list[str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            uids = [d["uid"] for d in body["decisions"]]
            status = 422 if "bad" in uids else 200
            if status == 200:
                taken.append(uids)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        queue = DecisionQueue(tmp_path / "q.sqlite")
        for uid in ("a", "bad", "c"):
            queue.append(uid, orjson.dumps({"uid": uid}))
        registry = CollectorRegistry()
        shipped, failed = Counter("s", "s", registry=registry), Counter("f", "f", registry=registry)
        client = ServiceClient(url=f"http://127.0.0.1:{server.server_port}", token="t")
        shipper = Shipper(queue=queue, client=client, shipped=shipped, failed=failed)
        assert asyncio.run(shipper.ship_once()) == 3
    finally:
        server.shutdown()
    assert (taken, queue.depth()) == ([["a"], ["c"]], 0)
    assert (registry.get_sample_value("s_total"), registry.get_sample_value("f_total")) == (2.0, 1.0)


def test_a_hostile_uid_and_nul_characters_still_make_a_record_the_service_accepts() -> None:
    long_uid = "u" * 300
    assert (
        admissionrecords.record_uid(long_uid)
        == "sha256:" + __import__("hashlib").sha256(long_uid.encode()).hexdigest()
    )
    assert (
        admissionrecords.record_uid("705ab4f5-6393-11e8-b7cc-42010a800002")
        == "705ab4f5-6393-11e8-b7cc-42010a800002"
    )
    result = _failing()
    result.message = "owner a\x00b"
    record = admissionrecords.build_record(
        _review(), Decision(False, "deny", "m"), [result], mode="enforce", app="ch\x00", env="prod", now=NOW
    )
    assert record is not None
    parsed = orjson.loads(record)
    assert (parsed["app"], parsed["results"][0]["message"]) == ("ch\ufffd", "owner a\ufffdb")
