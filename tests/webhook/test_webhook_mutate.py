"""``POST /mutate`` over real HTTPS with the built-in reliability and PSS baseline packs: the
fixes of failing rules as a JSON Patch where the environment mutates, proven by applying the
patch with the ``jsonpatch`` library and sending the result back to ``/validate`` and ``/mutate``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jsonpatch
import pytest
from admissionreviews import build_review, pod
from webhookservers import Webhook, start_webhook, stop

UID = "705ab4f5-6393-11e8-b7cc-42010a800002"
CONFIG = """admission:
  default: audit
  environments:
    prod: enforce
    staging: {mode: warn, mutate: true}
    lab: {mode: audit, mutate: true, unsafeFixes: true}
  namespaces: {payments: prod, web: staging, lab: lab, kube-system: staging}
  exempt: {namespaces: [kube-system]}
"""
BACKOFF = "require-job-limits/backoff-limit"


@pytest.fixture(scope="module")
def mutating_webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    folder = tmp_path_factory.mktemp("mutate")
    (folder / "leitplanke.yaml").write_text(CONFIG)
    served = start_webhook(
        folder, "--pack", "reliability", "--pack", "pss-baseline", "--config", str(folder / "leitplanke.yaml")
    )
    yield served
    stop(served)


def job(name: str = "migrate", **spec: Any) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "migrate:1.4"}]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"activeDeadlineSeconds": 600, **spec, "template": template},
    }


def host_network_pod() -> dict[str, Any]:
    body = pod("web")
    body["spec"]["hostNetwork"] = True
    return body


def _mutate(webhook: Webhook, obj: dict[str, Any], *, namespace: str, **options: Any) -> dict[str, Any]:
    status, answer = webhook.review(build_review(obj, namespace=namespace, **options), path="/mutate")
    assert status == 200
    assert (answer["apiVersion"], answer["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    response: dict[str, Any] = answer["response"]
    return response


def _patch_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    patch: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return patch


def _failing(webhook: Webhook, obj: dict[str, Any]) -> list[str]:
    """The warnings ``/validate`` gives the object in the warn-mode environment: every failure."""
    status, answer = webhook.review(build_review(obj, namespace="web"))
    assert status == 200
    assert answer["response"]["allowed"] is True
    return list(answer["response"].get("warnings", []))


def test_a_job_without_backoff_limit_gets_the_safe_fix_as_the_exact_json_patch(
    mutating_webhook: Webhook,
) -> None:
    response = _mutate(mutating_webhook, job(), namespace="web")
    assert response["uid"] == UID
    assert response["allowed"] is True
    assert _patch_of(response) == [{"op": "add", "path": "/spec/backoffLimit", "value": 6}]


def test_the_patched_job_passes_the_rule_it_was_fixed_for_and_a_second_pass_returns_no_patch(
    mutating_webhook: Webhook,
) -> None:
    original = job()
    assert any(line.startswith(BACKOFF) for line in _failing(mutating_webhook, original))
    patched = jsonpatch.apply_patch(original, _patch_of(_mutate(mutating_webhook, original, namespace="web")))
    assert patched["spec"]["backoffLimit"] == 6
    assert not any(line.startswith(BACKOFF) for line in _failing(mutating_webhook, patched))
    assert _mutate(mutating_webhook, patched, namespace="web") == {"uid": UID, "allowed": True}


def test_an_unsafe_fix_is_left_out_unless_the_environment_allows_unsafe_fixes(
    mutating_webhook: Webhook,
) -> None:
    # staging mutates with safe fixes only: removing hostNetwork changes what the pod does
    assert _mutate(mutating_webhook, host_network_pod(), namespace="web") == {"uid": UID, "allowed": True}
    unsafe = _mutate(mutating_webhook, host_network_pod(), namespace="lab")
    assert _patch_of(unsafe) == [
        {"op": "remove", "path": "/spec/hostNetwork"},
        {"op": "add", "path": "/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"},
    ]
    patched = jsonpatch.apply_patch(host_network_pod(), _patch_of(unsafe))
    assert "hostNetwork" not in patched["spec"]
    assert _mutate(mutating_webhook, patched, namespace="lab") == {"uid": UID, "allowed": True}


def test_the_unsafe_fixes_of_a_job_come_with_its_safe_ones_where_allowed(mutating_webhook: Webhook) -> None:
    patch = _patch_of(_mutate(mutating_webhook, job(), namespace="lab"))
    assert patch == [
        {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"},
        {"op": "add", "path": "/spec/backoffLimit", "value": 6},
        {"op": "add", "path": "/spec/ttlSecondsAfterFinished", "value": 86400},
    ]
    patched = jsonpatch.apply_patch(job(), patch)
    assert _mutate(mutating_webhook, patched, namespace="lab") == {"uid": UID, "allowed": True}


def test_an_environment_without_mutation_allows_without_a_patch(mutating_webhook: Webhook) -> None:
    for namespace in ("payments", "unmapped"):  # prod enforces but does not mutate; unmapped: default
        assert _mutate(mutating_webhook, job(), namespace=namespace) == {"uid": UID, "allowed": True}


def test_exempt_namespaces_sub_resources_and_deletes_are_allowed_without_a_patch(
    mutating_webhook: Webhook,
) -> None:
    allowed = {"uid": UID, "allowed": True}
    assert _mutate(mutating_webhook, job(), namespace="kube-system") == allowed
    assert _mutate(mutating_webhook, job(), namespace="web", sub_resource="status", old=job()) == allowed
    assert _mutate(mutating_webhook, None, namespace="web", operation="DELETE", old=job()) == allowed


def test_an_update_is_mutated_as_a_create(mutating_webhook: Webhook) -> None:
    response = _mutate(mutating_webhook, job(), namespace="web", operation="UPDATE", old=job())
    assert _patch_of(response) == [{"op": "add", "path": "/spec/backoffLimit", "value": 6}]


def test_bad_input_to_mutate_is_answered_as_on_validate(mutating_webhook: Webhook) -> None:
    status, answer = mutating_webhook.review(b"{not json", path="/mutate")
    assert status == 400
    assert answer["code"] == "malformed-json"
    wrong = build_review(job(), namespace="web")
    wrong["apiVersion"] = "admission.k8s.io/v1beta1"
    status, answer = mutating_webhook.review(wrong, path="/mutate")
    assert status == 200
    assert answer["response"] == {
        "uid": UID,
        "allowed": False,
        "status": {
            "code": 400,
            "message": "leitplanke: invalid AdmissionReview: apiVersion: apiVersion must be "
            "admission.k8s.io/v1, not 'admission.k8s.io/v1beta1' [wrong-api-version]",
        },
    }
    assert mutating_webhook.request("GET", "/mutate")[0] == 405
