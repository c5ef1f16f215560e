"""/metrics of ``leitplanke webhook`` over real HTTPS: with workers recycled every 30 requests it adds up
every worker's counters, alive and retired, whichever worker answers the scrape; the workers' metrics
directory is private, fresh and gone after SIGTERM; one worker without a limit keeps its own registry.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from admissionreviews import build_review, pod
from recordingservices import wait_until
from webhookservers import CONFIG, POLICIES, Webhook, start_webhook, stop

from leitplanke.cli import webhookmetrics

SOURCES = ("--pack", "none", "--policies", str(POLICIES), "--config", str(CONFIG))
SAMPLE = re.compile(rb"^(leitplanke_admission_[a-z_]+)(\{[^}]*\})? (\S+)$", re.MULTILINE)


def _samples(webhook: Webhook) -> dict[str, float]:
    status, body = webhook.request("GET", "/metrics")
    assert status == 200
    return {(name + (labels or b"")).decode(): float(value) for name, labels, value in SAMPLE.findall(body)}


def _send(webhook: Webhook, count: int) -> list[str]:
    """``count`` reviews of an allowed pod, each on a new connection (so on either worker); what went wrong."""
    wrong = []
    for index in range(count):
        review = build_review(pod(f"web-{index}", privileged=False), namespace="default", uid=f"m-{index}")
        status, answer = webhook.review(review)
        if (status, answer["response"]["allowed"]) != (200, True):
            wrong.append(f"m-{index}: {status} {answer}")
    return wrong


def _metrics_directories(tmp: Path) -> list[str]:
    return sorted(path.name for path in tmp.glob("leitplanke-webhook-metrics-*"))


def _recycled(webhook: Webhook) -> int:
    return sum(line.endswith("(recycled)") for line in webhook.log.read_text().splitlines())


def test_recycled_workers_counters_add_up_to_every_request_whichever_worker_answers_the_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # where the supervisor makes the workers' directory
    webhook = start_webhook(tmp_path, *SOURCES, "--workers", "2", "--max-requests", "30")
    try:
        (directory,) = _metrics_directories(tmp)
        assert (tmp / directory).stat().st_mode & 0o777 == 0o700
        assert _send(webhook, 150) == []
        wait_until(lambda: _recycled(webhook) >= 4, what="four retired workers")
        scrapes = [_samples(webhook) for _ in range(8)]
    finally:
        stop(webhook)
    assert _recycled(webhook) >= 4  # 150 reviews over workers of 30: most of them came from retired workers
    for number, samples in enumerate(scrapes):
        assert samples['leitplanke_admission_requests_total{route="/validate",status="200"}'] == 150.0
        assert samples['leitplanke_admission_decisions_total{mode="audit",outcome="allow"}'] == 150.0
        assert samples["leitplanke_admission_seconds_count"] == 150.0
        # a scrape counts itself after it answers: the n-th sees the n - 1 before it, from any worker
        assert (
            samples.get('leitplanke_admission_requests_total{route="/metrics",status="200"}', 0.0) == number
        )
        assert "leitplanke_admission_requests_created" not in " ".join(samples)
    assert _metrics_directories(tmp) == []  # removed when the supervisor stopped


def test_one_worker_without_a_limit_keeps_its_own_registry_and_makes_no_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    webhook = start_webhook(tmp_path, *SOURCES)
    try:
        assert _send(webhook, 5) == []
        samples = _samples(webhook)
        directories = _metrics_directories(tmp)
    finally:
        stop(webhook)
    assert directories == []
    assert samples['leitplanke_admission_requests_total{route="/validate",status="200"}'] == 5.0
    # the per-process registry's own sample, absent in multiprocess mode: the mode is unchanged
    assert 'leitplanke_admission_requests_created{route="/validate",status="200"}' in samples


def test_the_directory_is_refused_once_prometheus_client_is_imported_and_the_environment_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prometheus_client.values  # noqa: F401  # as in this test process: imported by the service's tests

    monkeypatch.delenv(webhookmetrics.VARIABLE, raising=False)
    with pytest.raises(webhookmetrics.ImportOrderError), webhookmetrics.shared_directory():
        pass
    assert webhookmetrics.VARIABLE not in os.environ


def test_an_exited_workers_live_gauge_file_is_forgotten_and_its_counter_file_kept(tmp_path: Path) -> None:
    for name in ("gauge_livemostrecent_41.db", "gauge_livemostrecent_42.db", "counter_41.db"):
        (tmp_path / name).write_bytes(b"")
    webhookmetrics.forget_worker(41, directory=tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_41.db", "gauge_livemostrecent_42.db"]
