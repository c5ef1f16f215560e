"""The webhook with every default pack, fed AdmissionReviews built from ``../shared/bench/real``
manifests over HTTPS, gives each object the same failures as ``leitplanke scan`` of that object."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from admissionreviews import build_review
from webhookservers import SRC, Webhook, start_webhook, stop

from leitplanke.core.documents import Document
from leitplanke.engine import loading
from leitplanke.sources import files

REAL = Path(__file__).parents[3] / "shared" / "bench" / "real"
if not REAL.is_dir():
    REAL = Path("/work/shared/bench/real")
OBJECTS = 60  # spread over the corpus: every n-th object of the sorted files
CONFIG = """admission:
  default: audit
  environments: {mirror: warn, guarded: enforce}
  namespaces: {mirror: mirror, guarded: guarded}
  failurePolicy: {default: open}
"""
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"the real-manifest corpus is not at {REAL}")


def _objects() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(str(p) for p in REAL.rglob("*.yaml")):
        for item in files.load_documents(path):
            if (
                isinstance(item, Document)
                and item.domain == "kubernetes"
                and item.name
                and item.kind
                not in ("Namespace", "List")  # a Namespace pins the PSS version of others in a scan
            ):
                found.append(json.loads(json.dumps(item.body, default=str)))
    step = max(1, len(found) // OBJECTS)
    return found[::step][:OBJECTS]


@pytest.fixture(scope="module")
def packs_webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    folder = tmp_path_factory.mktemp("packs")
    (folder / "leitplanke.yaml").write_text(CONFIG)
    served = start_webhook(folder, "--config", str(folder / "leitplanke.yaml"))
    yield served
    stop(served)


def _scan_lines(folder: Path, count: int) -> dict[int, list[str]]:
    """Per object file, what the webhook would warn about: fail and warn results of per-document
    rules (set-level rules need the other documents: admission sees one), errors as errors."""
    collecting = {
        (p.id, r.name)
        for p in loading.load_packs(loading.default_packs(), now=datetime.now(UTC)).policies
        for r in p.rules
        if r.collect
    }
    done = subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", "scan", str(folder), "-f", "json", "--quiet"],
        capture_output=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        cwd=folder,
        check=False,
    )
    report = json.loads(done.stdout)
    lines: dict[int, list[str]] = {index: [] for index in range(count)}
    for result in report["results"]:
        if (
            result["verdict"] not in ("fail", "warn", "error")
            or (result["policy"], result["rule"]) in collecting
        ):
            continue
        index = int(Path(result["location"]["file"]).stem.split("-")[1])
        at = f" (at {result['location']['path']})" if result["location"]["path"] else ""
        if result["verdict"] == "error":
            code = f" [{result['code']}]" if result.get("code") else ""
            line = (
                f"{result['policy']}/{result['rule']} could not be evaluated{code}: {result['message']}{at}"
            )
        else:
            line = f"{result['policy']}/{result['rule']}: {result['message']}{at}"
        lines[index].append(line if len(line) <= 256 else line[:255] + "…")
    return lines


def test_every_sampled_real_object_gets_the_failures_scan_gives_it(
    packs_webhook: Webhook, tmp_path: Path
) -> None:
    objects = _objects()
    assert len(objects) >= 20, "too few objects in the corpus"
    for index, body in enumerate(objects):
        (tmp_path / f"obj-{index:03d}.yaml").write_text(json.dumps(body))
    expected = _scan_lines(tmp_path, len(objects))
    assert any(expected.values()), "the sample has no failing object: the comparison would prove nothing"
    for index, body in enumerate(objects):
        status, answer = packs_webhook.review(build_review(body, namespace="mirror", uid=f"uid-{index}"))
        assert status == 200
        response = answer["response"]
        assert (response["uid"], response["allowed"]) == (f"uid-{index}", True)
        warnings = response.get("warnings", [])
        want = expected[index]
        if warnings and warnings[-1].startswith("… and "):
            more = int(warnings[-1].split()[2])
            assert len(warnings) - 1 + more == len(want), (index, body["kind"])
            assert set(warnings[:-1]) <= set(want), (index, body["kind"])
        else:
            assert sorted(warnings) == sorted(want), (index, body["kind"], body["metadata"]["name"])


def test_enforce_denies_a_real_object_that_scan_fails_and_allows_one_it_passes(
    packs_webhook: Webhook, tmp_path: Path
) -> None:
    objects = _objects()
    for index, body in enumerate(objects):
        (tmp_path / f"obj-{index:03d}.yaml").write_text(json.dumps(body))
    expected = _scan_lines(tmp_path, len(objects))
    verdicts = set()
    for index, body in enumerate(objects):
        status, answer = packs_webhook.review(build_review(body, namespace="guarded", uid=f"uid-{index}"))
        failing = [line for line in expected[index] if " could not be evaluated" not in line]
        response = answer["response"]
        verdicts.add(response["allowed"])
        # warn results (a policy's action: warn) never deny: only objects with a fail result are denied
        assert status == 200
        if response["allowed"]:
            assert "status" not in response
        else:
            assert failing, (index, body["kind"])
            assert response["status"]["code"] == 403
            assert response["status"]["message"].startswith("leitplanke: ")
    assert verdicts == {True, False}
