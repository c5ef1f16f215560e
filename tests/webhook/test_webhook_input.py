"""Bad input, big objects, TLS versions, certificate rotation and metrics, over real HTTPS: every
answer is a well-formed AdmissionReview or a 400/413 with a clear message, never a 500."""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from admissionreviews import build_review, config_map, pod
from webhookservers import CONFIG, POLICIES, Webhook, start_webhook, stop

UID = "705ab4f5-6393-11e8-b7cc-42010a800002"


def test_malformed_json_is_a_400_with_the_reason(webhook: Webhook) -> None:
    status, answer = webhook.review(b'{"apiVersion": "admission.k8s.io/v1", ')
    assert status == 400
    assert answer == {
        "code": "malformed-json",
        "field": "",
        "message": "the body is not JSON: unexpected end of data: line 1 column 39 (char 38)",
    }


def test_a_json_value_that_is_not_an_object_is_a_400(webhook: Webhook) -> None:
    assert webhook.review(b"[1, 2]") == (
        400,
        {
            "code": "not-an-object",
            "field": "",
            "message": "the body must be a JSON object (an AdmissionReview)",
        },
    )


def test_a_wrong_api_version_with_a_uid_is_denied_in_a_well_formed_review(webhook: Webhook) -> None:
    review = build_review(pod("web"), namespace="payments")
    review["apiVersion"] = "admission.k8s.io/v1beta1"
    assert webhook.review(review) == (
        200,
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {
                "uid": UID,
                "allowed": False,
                "status": {
                    "code": 400,
                    "message": "leitplanke: invalid AdmissionReview: apiVersion: apiVersion must be "
                    "admission.k8s.io/v1, not 'admission.k8s.io/v1beta1' [wrong-api-version]",
                },
            },
        },
    )


def test_a_wrong_kind_without_a_request_is_a_400(webhook: Webhook) -> None:
    assert webhook.review({"apiVersion": "admission.k8s.io/v1", "kind": "TokenReview"}) == (
        400,
        {"code": "wrong-kind", "field": "kind", "message": "kind must be AdmissionReview, not 'TokenReview'"},
    )


def test_a_missing_uid_is_a_400_naming_the_field(webhook: Webhook) -> None:
    review = build_review(pod("web"), namespace="payments")
    del review["request"]["uid"]
    assert webhook.review(review) == (
        400,
        {
            "code": "missing-field",
            "field": "request.uid",
            "message": "the request has no uid (a non-empty string)",
        },
    )


def test_an_object_that_is_not_a_mapping_is_denied_naming_the_field(webhook: Webhook) -> None:
    review = build_review(pod("web"), namespace="payments")
    review["request"]["object"] = "a pod"
    status, answer = webhook.review(review)
    assert (status, answer["response"]) == (
        200,
        {
            "uid": UID,
            "allowed": False,
            "status": {
                "code": 400,
                "message": "leitplanke: invalid AdmissionReview: request.object: request.object must be an object "
                "[invalid-field]",
            },
        },
    )


def test_a_3_mb_object_is_evaluated_and_a_bigger_body_is_a_413(webhook: Webhook) -> None:
    big = config_map("blob", "team-a", data={"blob": "x" * (3 * 1024 * 1024 - 4096)})
    status, answer = webhook.review(build_review(big, namespace="payments"))
    assert (status, answer["response"]) == (200, {"uid": UID, "allowed": True})
    bigger = config_map("blob", "team-a", data={"blob": "x" * (4 * 1024 * 1024)})
    status, body = webhook.request(
        "POST", "/validate", json.dumps(build_review(bigger, namespace="payments")).encode()
    )
    assert (status, json.loads(body)) == (
        413,
        {"code": "too-large", "field": "", "message": "the body exceeds 3670016 bytes"},
    )
    # and the server keeps answering
    status, answer = webhook.review(build_review(pod("web"), namespace="payments"))
    assert (status, answer["response"]) == (200, {"uid": UID, "allowed": True})


def test_health_readiness_and_unknown_routes(webhook: Webhook) -> None:
    assert webhook.request("GET", "/healthz") == (200, b'{"status":"ok"}')
    assert webhook.request("GET", "/readyz") == (200, b'{"status":"ok"}')
    assert webhook.request("GET", "/validate") == (
        405,
        b'{"code":"method-not-allowed","field":"","message":"use POST"}',
    )
    assert webhook.request("GET", "/mutate") == (
        405,
        b'{"code":"method-not-allowed","field":"","message":"use POST"}',
    )
    assert webhook.request("GET", "/mutated") == (
        404,
        b'{"code":"not-found","field":"","message":"no route GET /mutated"}',
    )


def test_metrics_count_requests_decisions_latency_and_policy_errors(webhook: Webhook) -> None:
    webhook.review(build_review(pod("web", privileged=True), namespace="payments"))
    webhook.review(build_review(pod("web", privileged=True), namespace="web"))
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "nightly"}, "spec": {}}
    webhook.review(build_review(job, namespace="lab"))
    status, body = webhook.request("GET", "/metrics")
    text = body.decode()
    assert status == 200

    def value(sample: str) -> float:
        found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
        assert found, sample
        return float(found.group(1))

    assert value('leitplanke_admission_decisions_total{mode="enforce",outcome="deny"}') >= 1
    assert value('leitplanke_admission_decisions_total{mode="warn",outcome="warn"}') >= 1
    assert value('leitplanke_admission_decisions_total{mode="audit",outcome="warn"}') >= 1
    assert value('leitplanke_admission_requests_total{route="/validate",status="200"}') >= 3
    assert value("leitplanke_admission_policy_errors_total") >= 1
    assert value("leitplanke_admission_seconds_count") >= 3


def test_tls_below_1_2_is_refused_by_the_server(webhook: Webhook) -> None:
    # a client that does offer TLS 1.1 (security level 0 lets OpenSSL 3 speak it): the refusal
    # is then the server's protocol-version alert, not the client declining to try
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(webhook.ca)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 and 1.1 are deprecated: the point
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    connection = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=old, timeout=10)
    with pytest.raises(ssl.SSLError) as refused:
        connection.request("GET", "/healthz")
    connection.close()
    # the client sent its TLS 1.1 hello (it did not fail with NO_PROTOCOLS_AVAILABLE): the server
    # answers with a protocol-version alert or, on uvloop, hangs up on the hello
    assert refused.value.reason in ("TLSV1_ALERT_PROTOCOL_VERSION", "UNEXPECTED_EOF_WHILE_READING")
    tls12 = webhook.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    connection = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=tls12, timeout=10)
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 200
    connection.close()


def test_a_rotated_certificate_is_served_to_new_connections_without_a_restart(tmp_path: Path) -> None:
    served = start_webhook(tmp_path, "--pack", "none", "--policies", str(POLICIES), "--config", str(CONFIG))
    try:
        assert served.peer_common_name() == "webhook-1"
        served.authority.issue(tmp_path, common_name="webhook-2")
        deadline = time.monotonic() + 10
        while served.peer_common_name() != "webhook-2":
            assert time.monotonic() < deadline, "the new certificate was not served within 10 s"
            time.sleep(0.2)
        status, answer = served.review(build_review(pod("web"), namespace="payments"))
        assert (status, answer["response"]) == (200, {"uid": UID, "allowed": True})
        assert served.process.poll() is None
    finally:
        stop(served)


def test_the_webhook_does_not_start_with_an_admission_config_error(tmp_path: Path) -> None:
    from webhookservers import SRC, make_authority

    make_authority(tmp_path).issue(tmp_path, common_name="webhook-1")
    (tmp_path / "bad.yaml").write_text("admission:\n  environments: {prod: block}\n")
    done = subprocess.run(
        [
            sys.executable, "-m", "leitplanke.cli", "webhook", "--pack", "none", "--policies", str(POLICIES),
            "--cert-file", str(tmp_path / "tls.crt"), "--key-file", str(tmp_path / "tls.key"),
            "--config", str(tmp_path / "bad.yaml"), "--host", "127.0.0.1", "--port", "0",
        ],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        f"{tmp_path / 'bad.yaml'}: error invalid-admission [admission.environments.prod]: "
        "'block' is not one of audit, warn, enforce\n"
        "leitplanke: the webhook does not start with policy or config errors\n"
    )
