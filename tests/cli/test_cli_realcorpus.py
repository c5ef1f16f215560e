"""``leitplanke scan`` on the shared corpus of real upstream manifests (../shared/bench/real).

The failing results of four files are pinned; each line below was checked by reading the file.
"""

from __future__ import annotations

import pytest

NEWRELIC = "real/kubernetes__examples/_archived/newrelic-infrastructure/newrelic-infra-daemonset.yaml"
ELASTICSEARCH = "real/kubernetes__examples/_archived/elasticsearch/es-rc.yaml"
CASSANDRA = "real/kubernetes__examples/databases/cassandra/cassandra-statefulset.yaml"
MICROSERVICES = "real/GoogleCloudPlatform__microservices-demo/release/kubernetes-manifests.yaml"
POD = "spec.template.spec"
AGENT = "DaemonSet/newrelic-infra-agent"
FAILING = {
    ("disallow-host-namespaces", "no-host-pid", AGENT, NEWRELIC, 18, f"{POD}.hostPID"),
    ("disallow-host-namespaces", "no-host-ipc", AGENT, NEWRELIC, 19, f"{POD}.hostIPC"),
    ("disallow-host-namespaces", "no-host-network", AGENT, NEWRELIC, 20, f"{POD}.hostNetwork"),
    (
        "disallow-privileged-containers",
        "no-privileged-containers",
        AGENT,
        NEWRELIC,
        26,
        f"{POD}.containers[0].securityContext.privileged",
    ),
    # volumes[0] is a secret; /dev, the docker socket, /var/log and / are host paths
    ("disallow-host-path", "no-host-path-volumes", AGENT, NEWRELIC, 48, f"{POD}.volumes[1].hostPath"),
    ("disallow-host-path", "no-host-path-volumes", AGENT, NEWRELIC, 51, f"{POD}.volumes[2].hostPath"),
    ("disallow-host-path", "no-host-path-volumes", AGENT, NEWRELIC, 54, f"{POD}.volumes[3].hostPath"),
    ("disallow-host-path", "no-host-path-volumes", AGENT, NEWRELIC, 57, f"{POD}.volumes[4].hostPath"),
    # an init container that runs sysctl -w, privileged
    (
        "disallow-privileged-containers",
        "no-privileged-containers",
        "ReplicationController/es",
        ELASTICSEARCH,
        21,
        f"{POD}.initContainers[0].securityContext.privileged",
    ),
    # IPC_LOCK is not in the baseline set of capabilities
    (
        "restrict-added-capabilities",
        "baseline-capabilities-only",
        "ReplicationController/es",
        ELASTICSEARCH,
        26,
        f"{POD}.containers[0].securityContext.capabilities.add",
    ),
    (
        "restrict-added-capabilities",
        "baseline-capabilities-only",
        "StatefulSet/cassandra",
        CASSANDRA,
        41,
        f"{POD}.containers[0].securityContext.capabilities.add",
    ),
}
# the microservices demo runs non-root with capabilities dropped: every baseline check passes
MICROSERVICES_DEPLOYMENTS = (
    "adservice",
    "cartservice",
    "checkoutservice",
    "currencyservice",
    "emailservice",
    "frontend",
    "loadgenerator",
    "paymentservice",
    "productcatalogservice",
    "recommendationservice",
    "redis-cart",
    "shippingservice",
)
# keys that really occur twice upstream: warnings, not errors
DUPLICATE_KEYS = {
    ("real/kubernetes__examples/_archived/openshift-origin/etcd-controller.yaml", 12, "spec.selector"),
    (
        "real/kubernetes__examples/_archived/openshift-origin/etcd-discovery-controller.yaml",
        12,
        "spec.selector",
    ),
    ("real/kubernetes__examples/_archived/openshift-origin/openshift-controller.yaml", 12, "spec.selector"),
    (
        "real/kubernetes__examples/_archived/persistent-volume-provisioning/quobyte/quobyte-admin-secret.yaml",
        9,
        "type",
    ),
    ("real/kubernetes__examples/_archived/volumes/scaleio/sc-pvc.yaml", 12, "spec.storageClassName"),
}
# the two inputs that really cannot be read as they are
UNREADABLE = {
    # a test fixture of ingress-nginx: 14 blocks open, 13 close; the file ends inside `http {`
    ("real/kubernetes__ingress-nginx/test/data/cleanConf.expected.conf", 135, "nginx-syntax"),
    # `include mime.types;`, a file the corpus does not hold
    ("real/nginx__nginx/conf/nginx.conf", 18, "nginx-include-unreadable"),
}
CHOSEN = {NEWRELIC, ELASTICSEARCH, CASSANDRA, MICROSERVICES}


def real_corpus(shared):
    bench = shared / "bench"
    if not (bench / "real").is_dir():
        pytest.skip(f"the real-world corpus is not at {bench / 'real'}")
    return bench


def test_four_real_files_fail_exactly_the_baseline_checks_read_off_them(run_cli, shared, baseline_rules):
    bench = real_corpus(shared)

    run = run_cli("scan", *sorted(CHOSEN), "-f", "json", "--pack", "pss-baseline", "-j", "1", cwd=bench)

    assert run.code == 1, run
    assert run.findings("fail") == FAILING
    microservices = {
        (r["policy"], r["rule"], r["resource"]["kind"] + "/" + r["resource"]["name"], r["verdict"])
        for r in run.json()["results"]
        if r["location"]["file"] == MICROSERVICES
    }
    assert microservices == {
        (policy, rule, f"Deployment/{name}", "pass")
        for name in MICROSERVICES_DEPLOYMENTS
        for policy, rule in baseline_rules
    }


def test_the_whole_corpus_scans_in_parallel_without_an_error_verdict_and_fails(run_cli, shared):
    bench = real_corpus(shared)

    run = run_cli("scan", "real", "-f", "json", "--pack", "pss-baseline", cwd=bench)

    assert run.code == 1, run
    report = run.json()
    assert [r for r in report["results"] if r["verdict"] == "error"] == []
    problems = report["problems"]
    assert {(p["file"], p["line"], p["field"]) for p in problems if p["level"] == "warning"} == DUPLICATE_KEYS
    assert {p["code"] for p in problems if p["level"] == "warning"} == {"duplicate-key"}
    assert {(p["file"], p["line"], p["code"]) for p in problems if p["level"] == "error"} == UNREADABLE
    # the worker processes find what the serial scan of the four files found
    assert {f for f in run.findings("fail") if f[3] in CHOSEN} == FAILING
