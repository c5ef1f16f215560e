"""The webhook's answers over real HTTPS, mode by mode: enforce denies, warn warns, audit allows,
a policy's own ``action: warn`` never denies, errors follow the environment's failurePolicy."""

from __future__ import annotations

from typing import Any

from admissionreviews import build_review, config_map, pod
from webhookservers import Webhook

UID = "705ab4f5-6393-11e8-b7cc-42010a800002"
PRIVILEGED = "no-privileged/unprivileged: container app is privileged (at spec.containers[0].securityContext.privileged)"
NO_TEAM = "team-label/has-team: pod web has no team label (at metadata.labels)"
JOB_ERROR = "numbered-jobs/numeric-name could not be evaluated [cel-eval]: INVALID_ARGUMENT: cannot convert string to int"


def _response(webhook: Webhook, review: dict[str, Any]) -> dict[str, Any]:
    status, answer = webhook.review(review)
    assert status == 200
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    response: dict[str, Any] = answer["response"]
    return response


def _denied(message: str, warnings: list[str] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"uid": UID, "allowed": False, "status": {"code": 403, "message": message}}
    if warnings:
        answer["warnings"] = warnings
    return answer


def test_a_create_that_passes_every_policy_is_allowed_in_enforce_mode(webhook: Webhook) -> None:
    assert _response(webhook, build_review(pod("web"), namespace="payments")) == {"uid": UID, "allowed": True}


def test_a_privileged_pod_is_denied_in_enforce_mode_with_policy_rule_and_field_path(webhook: Webhook) -> None:
    review = build_review(pod("web", privileged=True), namespace="payments")
    assert _response(webhook, review) == _denied(f"leitplanke: 1 problem: {PRIVILEGED}")


def test_a_policy_with_action_warn_never_denies_but_warns_in_enforce_mode(webhook: Webhook) -> None:
    review = build_review(pod("web", team=None), namespace="payments")
    assert _response(webhook, review) == {"uid": UID, "allowed": True, "warnings": [NO_TEAM]}


def test_enforce_mode_denies_and_still_warns_about_action_warn_results(webhook: Webhook) -> None:
    review = build_review(pod("web", privileged=True, team=None), namespace="payments")
    assert _response(webhook, review) == _denied(f"leitplanke: 1 problem: {PRIVILEGED}", [NO_TEAM])


def test_warn_mode_allows_and_returns_one_warning_per_failing_result(webhook: Webhook) -> None:
    review = build_review(pod("web", privileged=True, team=None), namespace="web")
    assert _response(webhook, review) == {"uid": UID, "allowed": True, "warnings": [PRIVILEGED, NO_TEAM]}


def test_audit_mode_allows_without_warnings(webhook: Webhook) -> None:
    for namespace in ("lab", "unmapped"):  # lab is audit by name, unmapped by the default mode
        review = build_review(pod("web", privileged=True, team=None), namespace=namespace)
        assert _response(webhook, review) == {"uid": UID, "allowed": True}


def test_an_update_that_changes_an_immutable_field_of_the_old_object_is_denied(webhook: Webhook) -> None:
    review = build_review(
        config_map("settings", "team-b"),
        old=config_map("settings", "team-a"),
        namespace="payments",
        operation="UPDATE",
    )
    expected = "leitplanke: 1 problem: immutable-owner/owner-unchanged: owner changes from team-a to team-b (at data.owner)"
    assert _response(webhook, review) == _denied(expected)
    same = build_review(
        config_map("settings", "team-a"),
        old=config_map("settings", "team-a"),
        namespace="payments",
        operation="UPDATE",
    )
    assert _response(webhook, same) == {"uid": UID, "allowed": True}


def test_a_delete_is_evaluated_against_the_old_object(webhook: Webhook) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ledger", "labels": {"protected": "true"}},
        "spec": {"ports": [{"port": 80}]},
    }
    review = build_review(None, old=service, namespace="payments", operation="DELETE")
    assert review["request"]["object"] is None
    assert _response(webhook, review) == _denied(
        "leitplanke: 1 problem: protected-deletes/not-protected: Service ledger is protected"
    )
    created = build_review(service, namespace="payments")
    assert _response(webhook, created) == {"uid": UID, "allowed": True}


def test_a_dry_run_is_evaluated_and_answered_like_any_request(webhook: Webhook) -> None:
    review = build_review(pod("web", privileged=True), namespace="payments", dry_run=True)
    assert _response(webhook, review) == _denied(f"leitplanke: 1 problem: {PRIVILEGED}")


def test_a_sub_resource_request_is_allowed_without_evaluation(webhook: Webhook) -> None:
    review = build_review(
        pod("web", privileged=True), old=pod("web", privileged=True), namespace="payments",
        operation="UPDATE", sub_resource="status",
    )  # fmt: skip
    assert _response(webhook, review) == {"uid": UID, "allowed": True}


def test_a_policy_sees_the_service_account_in_user_info(webhook: Webhook) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"password": "c2VjcmV0"},
    }
    robot = {
        "username": "system:serviceaccount:payments:deployer",
        "uid": "4a2b6f0e-0000-4000-8000-000000000001",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:payments", "system:authenticated"],
    }
    expected = "leitplanke: 1 problem: no-service-account-secrets/human-author: system:serviceaccount:payments:deployer may not write Secret db"
    assert _response(webhook, build_review(secret, namespace="payments", user=robot)) == _denied(expected)
    assert _response(webhook, build_review(secret, namespace="payments")) == {"uid": UID, "allowed": True}


def test_exempt_namespaces_and_groups_are_allowed_without_evaluation(webhook: Webhook) -> None:
    privileged = pod("web", privileged=True)
    assert _response(webhook, build_review(privileged, namespace="kube-system")) == {
        "uid": UID,
        "allowed": True,
    }
    assert _response(webhook, build_review(privileged, namespace="leitplanke")) == {
        "uid": UID,
        "allowed": True,
    }
    admin = {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}
    assert _response(webhook, build_review(privileged, namespace="payments", user=admin)) == {
        "uid": UID,
        "allowed": True,
    }


def test_a_policy_error_denies_where_the_failure_policy_is_closed(webhook: Webhook) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "nightly"}, "spec": {}}
    assert _response(webhook, build_review(job, namespace="payments")) == _denied(
        f"leitplanke: 1 problem: {JOB_ERROR}"
    )


def test_a_policy_error_is_a_warning_not_a_silent_pass_where_the_failure_policy_is_open(
    webhook: Webhook,
) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "nightly"}, "spec": {}}
    for namespace in ("web", "lab"):  # warn and audit environments, both open
        assert _response(webhook, build_review(job, namespace=namespace)) == {
            "uid": UID,
            "allowed": True,
            "warnings": [JOB_ERROR],
        }


def test_unknown_kinds_and_custom_resources_are_allowed_when_no_policy_matches(webhook: Webhook) -> None:
    widget = {
        "apiVersion": "shop.example.com/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    assert _response(webhook, build_review(widget, namespace="payments")) == {"uid": UID, "allowed": True}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.shop.example.com"},
        "spec": {
            "group": "shop.example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
        },
    }
    assert _response(webhook, build_review(crd, namespace="")) == {"uid": UID, "allowed": True}
