"""The chart's webhook as the recording and mTLS features need it: a queue volume of its own (an emptyDir
with a size limit), the service token from a Secret of the user's mounted as a file, the client CA when
mTLS is asked for; rendered offline as in ``test_helm_chart``."""

from __future__ import annotations

from typing import Any

from test_helm_chart import one, render


def _webhook_pod(*set_values: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(render(*set_values), "Deployment", "webhook")["spec"]["template"]["spec"]
    return spec


def test_the_webhook_has_at_least_two_replicas_and_a_queue_volume_with_a_size_limit() -> None:
    deployment = one(render(), "Deployment", "webhook")
    assert deployment["spec"]["replicas"] == 2
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["queue"] == {"name": "queue", "emptyDir": {"sizeLimit": "1Gi"}}
    assert volumes["service-token"] == {
        "name": "service-token",
        "secret": {
            "secretName": "leitplanke-webhook-token",
            "defaultMode": 0o400,
            "items": [{"key": "token", "path": "token"}],
        },
    }
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["queue"] == {"name": "queue", "mountPath": "/var/lib/leitplanke/queue"}
    assert mounts["service-token"] == {
        "name": "service-token",
        "mountPath": "/var/run/leitplanke/service",
        "readOnly": True,
    }


def test_without_recording_the_webhook_has_no_queue_token_or_service_flags() -> None:
    pod = _webhook_pod("webhook.recording.enabled=false")
    (container,) = pod["containers"]
    assert [v["name"] for v in pod["volumes"] if v["name"] in ("queue", "service-token")] == []
    assert [
        a for a in container["args"] if a.startswith("--") and a not in ("--cert-file", "--key-file")
    ] == [
        "--port",
        "--config",
        "--workers",
        "--max-requests",
        "--max-requests-jitter",
    ]


def test_with_a_client_ca_secret_the_webhook_asks_callers_for_a_certificate_of_that_ca() -> None:
    pod = _webhook_pod("webhook.clientCA.secret=apiserver-client-ca")
    (container,) = pod["containers"]
    assert container["args"][-2:] == ["--client-ca-file", "/client-ca/ca.crt"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["client-ca"]["secret"] == {
        "secretName": "apiserver-client-ca",
        "defaultMode": 0o444,
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
    }
