"""The evaluation budget and the failure policy per environment, over real HTTPS: an evaluation over its
budget, or a policy that errs, is denied where the environment says ``failurePolicy: fail`` and allowed
with a warning that says why where it says ``ignore``, never passed in silence; and caller
authentication by client certificate (mTLS): a certificate of the configured CA is served, none or one
of another CA is refused at the handshake."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from admissionreviews import build_review, pod
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from webhookservers import POLICIES, Authority, Webhook, make_authority, start_webhook, stop

CONFIG = """\
admission:
  environments:
    strict: {mode: enforce, failurePolicy: fail, budgetMs: 0.001, mutate: true}
    lenient: {mode: enforce, failurePolicy: ignore, budgetMs: 0.001}
    roomy: {mode: enforce, failurePolicy: Fail, budgetMs: 5000}
    forgiving: {mode: enforce, failurePolicy: Ignore}
  namespaces: {strict: strict, lenient: lenient, roomy: roomy, forgiving: forgiving}
"""
UID = "705ab4f5-6393-11e8-b7cc-42010a800002"
OVER = r"evaluation took \d+\.\d ms, over the budget of 0\.001 ms"
JOB_ERROR = "numbered-jobs/numeric-name could not be evaluated [cel-eval]: INVALID_ARGUMENT: cannot convert string to int"


def _job(name: str) -> dict[str, object]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"template": {}}}


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    folder = tmp_path_factory.mktemp("budgets")
    (folder / "leitplanke.yaml").write_text(CONFIG)
    served = start_webhook(
        folder, "--pack", "none", "--policies", str(POLICIES), "--config", str(folder / "leitplanke.yaml")
    )
    yield served
    stop(served)


def _response(webhook: Webhook, namespace: str, obj: dict[str, object]) -> dict[str, object]:
    status, answer = webhook.review(build_review(obj, namespace=namespace))
    assert status == 200
    response: dict[str, object] = answer["response"]
    return response


def test_an_evaluation_over_its_budget_is_denied_where_the_failure_policy_is_fail(webhook: Webhook) -> None:
    response = _response(webhook, "strict", pod("web"))
    assert (response["uid"], response["allowed"]) == (UID, False)
    status = response["status"]
    assert isinstance(status, dict) and status["code"] == 403
    assert re.fullmatch(f"leitplanke: 1 problem: {OVER}", status["message"])


def test_an_evaluation_over_its_budget_is_allowed_with_a_warning_where_the_failure_policy_is_ignore(
    webhook: Webhook,
) -> None:
    response = _response(webhook, "lenient", pod("web", privileged=True))
    assert (response["uid"], response["allowed"], set(response)) == (
        UID,
        True,
        {"uid", "allowed", "warnings"},
    )
    warnings = response["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 1 and re.fullmatch(OVER, warnings[0])


def test_a_mutation_over_its_budget_returns_no_patch_and_is_denied_where_the_failure_policy_is_fail(
    webhook: Webhook,
) -> None:
    status, answer = webhook.review(build_review(pod("web"), namespace="strict"), path="/mutate")
    response = answer["response"]
    assert (status, response["allowed"], "patch" in response) == (200, False, False)
    assert re.fullmatch(f"leitplanke: 1 problem: {OVER}", response["status"]["message"])


def test_within_its_budget_an_evaluation_decides_by_the_policies(webhook: Webhook) -> None:
    assert _response(webhook, "roomy", pod("web")) == {"uid": UID, "allowed": True}
    denied = _response(webhook, "roomy", pod("web", privileged=True))
    assert denied["allowed"] is False


def test_a_policy_that_errs_is_a_denial_under_fail_and_a_warning_under_ignore_never_a_pass(
    webhook: Webhook,
) -> None:
    assert _response(webhook, "roomy", _job("nightly")) == {
        "uid": UID,
        "allowed": False,
        "status": {"code": 403, "message": f"leitplanke: 1 problem: {JOB_ERROR}"},
    }
    assert _response(webhook, "forgiving", _job("nightly")) == {
        "uid": UID,
        "allowed": True,
        "warnings": [JOB_ERROR],
    }


# --- mTLS ------------------------------------------------------------------------------------------


def _client_certificate(authority: Authority, folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(authority.key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    crt, key_file = folder / "client.crt", folder / "client.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return crt, key_file


def _post(webhook: Webhook, client: tuple[Path, Path] | None) -> int:
    context = ssl.create_default_context(cafile=str(webhook.ca))
    if client is not None:
        context.load_cert_chain(*client)
    connection = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=context, timeout=30)
    try:
        body = build_review(pod("web"), namespace="roomy")
        connection.request(
            "POST", "/validate", body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Webhook, Authority]]:
    folder = tmp_path_factory.mktemp("mtls")
    callers = make_authority(tmp_path_factory.mktemp("callers"))
    probe = _client_certificate(callers, tmp_path_factory.mktemp("probe"))
    (folder / "leitplanke.yaml").write_text(CONFIG)
    served = start_webhook(
        folder,
        "--pack", "none", "--policies", str(POLICIES), "--config", str(folder / "leitplanke.yaml"),
        "--client-ca-file", str(callers.pem),
        client_cert=probe,
    )  # fmt: skip
    yield served, callers
    stop(served)


def test_with_a_client_ca_a_caller_with_a_certificate_it_signed_is_answered(
    mtls: tuple[Webhook, Authority], tmp_path: Path
) -> None:
    webhook, callers = mtls
    assert _post(webhook, _client_certificate(callers, tmp_path)) == 200


def test_with_a_client_ca_a_caller_without_a_certificate_is_refused_at_the_handshake(
    mtls: tuple[Webhook, Authority],
) -> None:
    webhook, _ = mtls
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        _post(webhook, None)


def test_with_a_client_ca_a_certificate_of_another_ca_is_refused_at_the_handshake(
    mtls: tuple[Webhook, Authority], tmp_path: Path
) -> None:
    webhook, _ = mtls
    stranger = make_authority(tmp_path)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        _post(webhook, _client_certificate(stranger, tmp_path / "stranger"))
