"""leitplanke's own Helm chart (deploy/helm/leitplanke), rendered offline by the project's Helm source.

Rendered with helm-python-sdk as ``leitplanke scan`` renders charts (release ``release``, namespace
``default``); scanned by the real CLI with the default built-in packs; the rendered objects checked
against the Kubernetes OpenAPI schemas bundled by kubernetes-validate.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from leitplanke.core.documents import Document
from leitplanke.governance import auditkeys
from leitplanke.sources import helm

REPO = Path(__file__).parents[2]
CHART = REPO / "deploy" / "helm" / "leitplanke"
PREFIX = "release-leitplanke"

COMMON = {
    ("ConfigMap", "config"),
    ("ClusterRole", "webhook"),
    ("ClusterRoleBinding", "webhook"),
    ("Deployment", "api"),
    ("Deployment", "webhook"),
    ("HorizontalPodAutoscaler", "api"),
    ("HorizontalPodAutoscaler", "webhook"),
    ("Job", "migrate"),
    ("NetworkPolicy", "api"),
    ("NetworkPolicy", "default-deny"),
    ("NetworkPolicy", "migrate"),
    ("NetworkPolicy", "webhook"),
    ("PodDisruptionBudget", "api"),
    ("PodDisruptionBudget", "webhook"),
    ("Secret", "audit"),
    ("Service", "api"),
    ("Service", "webhook"),
    ("ServiceAccount", "api"),
    ("ServiceAccount", "migrate"),
    ("ServiceAccount", "webhook"),
    ("ValidatingWebhookConfiguration", "validating"),
}


def render(*set_values: str) -> list[Document]:
    found = list(helm.load_chart(str(CHART), set_values=set_values))
    problems = [item for item in found if not isinstance(item, Document)]
    assert problems == []
    return [item for item in found if isinstance(item, Document)]


def render_failure(*set_values: str) -> str:
    (problem,) = helm.load_chart(str(CHART), set_values=set_values)
    assert not isinstance(problem, Document)
    assert problem.code == "helm-failed"
    return problem.message


def names(documents: list[Document]) -> set[tuple[str, str]]:
    return {(doc.kind, doc.name.removeprefix(PREFIX + "-")) for doc in documents}


def one(documents: list[Document], kind: str, name: str) -> dict[str, Any]:
    (body,) = [doc.body for doc in documents if doc.kind == kind and doc.name == f"{PREFIX}-{name}"]
    return body


def pod_specs(documents: list[Document]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in documents:
        if doc.kind in ("Deployment", "Job"):
            yield doc.name, doc.body["spec"]["template"]["spec"]


def test_the_chart_renders_exactly_these_objects_with_cert_manager_by_default() -> None:
    assert names(render()) == COMMON | {("Issuer", "webhook"), ("Certificate", "webhook")}


def test_with_a_generated_ca_a_tls_secret_replaces_the_cert_manager_objects() -> None:
    assert names(render("tls.source=generated")) == COMMON | {("Secret", "webhook-tls")}


def test_the_mutating_webhook_configuration_is_rendered_only_when_enabled() -> None:
    documents = render("webhook.mutating.enabled=true")
    assert names(documents) - names(render()) == {("MutatingWebhookConfiguration", "mutating")}
    (hook,) = one(documents, "MutatingWebhookConfiguration", "mutating")["webhooks"]
    assert (hook["name"], hook["clientConfig"]["service"]["path"], hook["reinvocationPolicy"]) == (
        "mutate.leitplanke.dev",
        "/mutate",
        "IfNeeded",
    )


def test_the_webhook_runs_the_agreed_command_with_https_probes_and_the_api_runs_serve() -> None:
    documents = render()
    (webhook,) = one(documents, "Deployment", "webhook")["spec"]["template"]["spec"]["containers"]
    assert webhook["args"] == [
        "webhook",
        "--cert-file",
        "/tls/tls.crt",
        "--key-file",
        "/tls/tls.key",
        "--port",
        "8443",
        "--config",
        "/etc/leitplanke/leitplanke.yaml",
        "--workers",
        "2",
        "--max-requests",
        "10000",
        "--max-requests-jitter",
        "1000",
        "--queue",
        "/var/lib/leitplanke/queue/decisions.sqlite",
        "--service-url",
        "http://release-leitplanke-api.default.svc:8080",
        "--service-token-file",
        "/var/run/leitplanke/service/token",
        "--ship-seconds",
        "1",
        "--sync-seconds",
        "30",
    ]
    assert webhook["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    assert webhook["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    assert webhook["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    (api,) = one(documents, "Deployment", "api")["spec"]["template"]["spec"]["containers"]
    assert api["args"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    mounts = {m["mountPath"]: m["name"] for m in webhook["volumeMounts"]}
    assert (mounts["/tls"], mounts["/etc/leitplanke/leitplanke.yaml"]) == ("tls", "config")


def test_each_component_has_two_replicas_a_pdb_of_one_and_an_autoscaler() -> None:
    documents = render()
    for component in ("api", "webhook"):
        deployment = one(documents, "Deployment", component)
        assert deployment["spec"]["replicas"] == 2
        selector = deployment["spec"]["selector"]["matchLabels"]
        pdb = one(documents, "PodDisruptionBudget", component)["spec"]
        assert pdb == {"minAvailable": 1, "selector": {"matchLabels": selector}}
        hpa = one(documents, "HorizontalPodAutoscaler", component)["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"], hpa["scaleTargetRef"]["name"]) == (
            2,
            6,
            f"{PREFIX}-{component}",
        )
        (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert (spread["topologyKey"], spread["labelSelector"]["matchLabels"]) == (
            "kubernetes.io/hostname",
            selector,
        )


def test_every_pod_is_restricted_and_mounts_no_default_token() -> None:
    for name, spec in pod_specs(render("webhook.mutating.enabled=true")):
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["serviceAccountName"].startswith(PREFIX), name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert set(container["resources"]) == {"requests", "limits"}, name
            assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp", "/var/lib/leitplanke"}


def test_the_webhook_reads_namespaces_only_and_with_a_projected_token() -> None:
    documents = render()
    assert one(documents, "ClusterRole", "webhook")["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}
    ]
    binding = one(documents, "ClusterRoleBinding", "webhook")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{PREFIX}-webhook", "namespace": "default"}
    ]
    spec = one(documents, "Deployment", "webhook")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "kube-api-access"]
    assert volume["projected"]["sources"][0] == {
        "serviceAccountToken": {"path": "token", "expirationSeconds": 3600}
    }


def test_without_namespace_labels_the_webhook_has_no_role_and_no_token() -> None:
    documents = render("webhook.readNamespaceLabels=false")
    assert names(render()) - names(documents) == {
        ("ClusterRole", "webhook"),
        ("ClusterRoleBinding", "webhook"),
    }
    spec = one(documents, "Deployment", "webhook")["spec"]["template"]["spec"]
    assert [v["name"] for v in spec["volumes"]] == ["tmp", "data", "config", "tls", "queue", "service-token"]
    egress = one(documents, "NetworkPolicy", "webhook")["spec"]["egress"]
    assert [rule["ports"][0]["port"] for rule in egress] == [53, 8080]


def test_the_webhooks_skip_kube_system_and_the_release_namespace() -> None:
    documents = render("webhook.excludedNamespaces={monitoring,kube-system}")
    (hook,) = one(documents, "ValidatingWebhookConfiguration", "validating")["webhooks"]
    assert hook["namespaceSelector"] == {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["kube-system", "default", "monitoring"],
            }
        ]
    }
    assert (hook["name"], hook["failurePolicy"], hook["timeoutSeconds"], hook["sideEffects"]) == (
        "validate.leitplanke.dev",
        "Fail",
        5,
        "NoneOnDryRun",
    )
    assert hook["clientConfig"] == {
        "service": {"name": f"{PREFIX}-webhook", "namespace": "default", "path": "/validate", "port": 443}
    }


def test_with_cert_manager_the_ca_bundle_is_injected_from_the_certificate() -> None:
    documents = render()
    configuration = one(documents, "ValidatingWebhookConfiguration", "validating")
    assert configuration["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": f"default/{PREFIX}-webhook"
    }
    certificate = one(documents, "Certificate", "webhook")["spec"]
    assert (certificate["secretName"], certificate["issuerRef"]) == (
        f"{PREFIX}-webhook-tls",
        {"kind": "Issuer", "name": f"{PREFIX}-webhook"},
    )
    assert certificate["dnsNames"] == [
        f"{PREFIX}-webhook",
        f"{PREFIX}-webhook.default",
        f"{PREFIX}-webhook.default.svc",
        f"{PREFIX}-webhook.default.svc.cluster.local",
    ]


def test_a_generated_ca_signs_the_serving_certificate_and_is_the_ca_bundle() -> None:
    documents = render("tls.source=generated", "webhook.mutating.enabled=true")
    data = one(documents, "Secret", "webhook-tls")["data"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"]))
    served = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    served.verify_directly_issued_by(ca)
    sans = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"{PREFIX}-webhook.default.svc" in sans.get_values_for_type(x509.DNSName)
    for kind, name in (
        ("ValidatingWebhookConfiguration", "validating"),
        ("MutatingWebhookConfiguration", "mutating"),
    ):
        (hook,) = one(documents, kind, name)["webhooks"]
        assert hook["clientConfig"]["caBundle"] == data["ca.crt"]


def test_the_database_url_comes_from_the_existing_secret_and_migrations_run_before_install() -> None:
    documents = render()
    expected = {"secretKeyRef": {"name": "leitplanke-database", "key": "database-url"}}
    for kind, name in (("Deployment", "api"), ("Job", "migrate")):
        (container,) = one(documents, kind, name)["spec"]["template"]["spec"]["containers"]
        env = {item["name"]: item for item in container["env"]}
        assert env["LEITPLANKE_DATABASE_URL"]["valueFrom"] == expected
    job = one(documents, "Job", "migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (webhook,) = one(documents, "Deployment", "webhook")["spec"]["template"]["spec"]["containers"]
    assert "LEITPLANKE_DATABASE_URL" not in {item["name"] for item in webhook["env"]}


def test_without_an_existing_secret_the_chart_creates_it_as_a_hook_before_the_migration() -> None:
    url = "postgresql+psycopg://leitplanke:pw@db:5432/leitplanke"
    secret = one(render("database.existingSecret=", f"database.url={url}"), "Secret", "database")
    assert secret["stringData"] == {"database-url": url}
    assert secret["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"
    message = render_failure("database.existingSecret=")
    assert "database.url or database.existingSecret is required" in message


def test_generated_audit_keys_are_read_by_leitplanke_from_where_the_api_mounts_them(tmp_path: Path) -> None:
    documents = render()
    data = one(documents, "Secret", "audit")["data"]
    for key, value in data.items():
        (tmp_path / key).write_bytes(base64.b64decode(value))
    keys = auditkeys.load_audit_keys(
        key_file=tmp_path / "hmac.key",
        signing_key_file=tmp_path / "signing-key.pem",
        checkpoint_dir=tmp_path / "checkpoints",
    )
    assert len(keys.hmac_key) == 32
    (api,) = one(documents, "Deployment", "api")["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in api["env"]}
    assert (env["LEITPLANKE_AUDIT_KEY_FILE"], env["LEITPLANKE_AUDIT_SIGNING_KEY_FILE"]) == (
        "/etc/leitplanke/audit/hmac.key",
        "/etc/leitplanke/audit/signing-key.pem",
    )
    assert {"name": "audit-keys", "mountPath": "/etc/leitplanke/audit", "readOnly": True} in api[
        "volumeMounts"
    ]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("webhook.replicas=1", "at '/webhook/replicas': minimum: got 1, want 2"),
        ("webhook.workers=0", "at '/webhook/workers': minimum: got 0, want 1"),
        ("webhook.maxRequests=-1", "at '/webhook/maxRequests': minimum: got -1, want 0"),
        ("tls.source=vault", "at '/tls/source': value must be one of 'certManager', 'generated'"),
        ("webhook.failurePolicy=Maybe", "at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'"),
        ("api.replica=3", "at '/api': additional properties 'replica' not allowed"),
        ("agent.evaluationsPerWorker=-1", "at '/agent/evaluationsPerWorker': minimum: got -1, want 0"),
        ("agent.evaluationsPerWorker=many", "at '/agent/evaluationsPerWorker': got string, want integer"),
    ],
)
def test_the_values_schema_rejects_a_bad_value(value: str, error: str) -> None:
    message = render_failure(value)
    assert message.startswith("values don't meet the specifications of the schema(s)")
    assert f"- {error}" in message.splitlines()


def test_leitplankes_own_default_packs_find_nothing_at_high_or_above_in_the_chart(tmp_path: Path) -> None:
    for values in ((), ("--set", "tls.source=generated", "--set", "webhook.mutating.enabled=true")):
        run = subprocess.run(
            [sys.executable, "-m", "leitplanke.cli", "scan", str(CHART), "-f", "json", "-j", "1", *values],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["summary"]["failuresBySeverity"]["high"] == 0
        assert report["summary"]["failuresBySeverity"]["critical"] == 0
        assert report["problems"] == []
        accepted = {
            (
                r["policy"],
                r["rule"],
                r["resource"]["kind"],
                r["resource"]["name"],
                r["verdict"],
                r["severity"],
            )
            for r in report["results"]
            if r["verdict"] != "pass"
        }
        # the ones the README's "Install in a cluster" accepts, with its reasons
        assert accepted == {
            ("require-image-digest", "image-digest", "Deployment", f"{PREFIX}-api", "fail", "low"),
            ("require-image-digest", "image-digest", "Deployment", f"{PREFIX}-webhook", "fail", "low"),
            ("require-image-digest", "image-digest", "Job", f"{PREFIX}-migrate", "fail", "low"),
            (
                "disallow-secrets-in-env",
                "no-secret-env-vars",
                "Deployment",
                f"{PREFIX}-api",
                "warn",
                "medium",
            ),
            ("disallow-secrets-in-env", "no-secret-env-vars", "Job", f"{PREFIX}-migrate", "warn", "medium"),
        }


def test_with_an_image_digest_the_image_is_pulled_by_digest() -> None:
    digest = "sha256:" + "ab" * 32
    (container,) = one(render(f"image.digest={digest}"), "Job", "migrate")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == f"registry.example.com/leitplanke/leitplanke@{digest}"


@pytest.mark.parametrize("version", ["1.25", "1.37"])
def test_every_rendered_kubernetes_object_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra)")
    from kubernetes_validate import utils

    unchecked = set()
    for values in ((), ("tls.source=generated", "webhook.mutating.enabled=true")):
        for doc in render(*values):
            try:
                kubernetes_validate.validate(doc.body, version, strict=True)
            except utils.SchemaNotFoundError:
                unchecked.add((doc.api_version, doc.kind))
    # cert-manager's CRDs are not among the Kubernetes schemas
    assert unchecked == {("cert-manager.io/v1", "Issuer"), ("cert-manager.io/v1", "Certificate")}


def test_the_strict_kubernetes_schemas_do_reject_an_unknown_field() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra)")
    from kubernetes_validate import utils

    body = one(render(), "Deployment", "api")
    body["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesytem"] = True
    with pytest.raises(utils.ValidationError, match="readOnlyRootFilesytem"):
        kubernetes_validate.validate(body, "1.37", strict=True)
