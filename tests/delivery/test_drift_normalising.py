"""Each normalisation of drift: what the server adds or rewrites reports no drift, and a near miss next to it
(the same field, a value the server would not have written) reports exactly that change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from driftcases import DEPLOYMENT, Mutation, changed_lines, container, mutated, pod

from leitplanke.delivery import driftnormalising

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
"""
KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop, namespace: flux-system}
spec:
  interval: 5m
  timeout: 1m30s
  path: ./apps/shop
"""
CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: report, image: "busybox:1.37"}]
"""
DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "example/agent:2"}]
"""
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: shop}}\n"
STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "postgres:17"}]
"""


def _set(path: str, value: Any) -> Mutation:
    """A mutation that sets the dotted ``path`` (created as needed) to ``value``."""

    def mutation(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return mutation


def _in_container(key: str, value: Any, number: int = 0) -> Mutation:
    def mutation(body: dict[str, Any]) -> None:
        container(body, number)[key] = value

    return mutation


def _in_pod(key: str, value: Any) -> Mutation:
    def mutation(body: dict[str, Any]) -> None:
        pod(body)[key] = value

    return mutation


def _server_metadata(body: dict[str, Any]) -> None:
    metadata = body["metadata"]
    metadata.update(
        uid="0b6f1c9e-8f55-4c53-9f0a-4e8f3e4f2a11",
        resourceVersion="4711",
        generation=3,
        creationTimestamp="2026-01-05T09:00:00Z",
        selfLink="/apis/apps/v1/namespaces/shop/deployments/web",
        managedFields=[{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
    )
    metadata.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    metadata["annotations"]["deployment.kubernetes.io/revision"] = "3"
    body["status"] = {"replicas": 1, "readyReplicas": 1}


def _deployment_defaults(body: dict[str, Any]) -> None:
    body["spec"].update(
        replicas=1,
        revisionHistoryLimit=10,
        progressDeadlineSeconds=600,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    )


def _container_defaults(body: dict[str, Any]) -> None:
    for each in pod(body)["containers"]:
        each.update(
            terminationMessagePath="/dev/termination-log",
            terminationMessagePolicy="File",
            imagePullPolicy="IfNotPresent",
        )
        for port in each.get("ports", []):
            port["protocol"] = "TCP"


def _pod_defaults(body: dict[str, Any]) -> None:
    pod(body).update(
        restartPolicy="Always",
        dnsPolicy="ClusterFirst",
        schedulerName="default-scheduler",
        terminationGracePeriodSeconds=30,
        securityContext={},
        enableServiceLinks=True,
    )


def _service_defaults(body: dict[str, Any]) -> None:
    body["spec"].update(
        type="ClusterIP",
        sessionAffinity="None",
        ipFamilies=["IPv4"],
        ipFamilyPolicy="SingleStack",
        internalTrafficPolicy="Cluster",
        clusterIP="10.96.12.7",
        clusterIPs=["10.96.12.7"],
        ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}],
    )


def _empties(body: dict[str, Any]) -> None:
    body["metadata"]["annotations"] = {}
    body["spec"]["template"]["metadata"]["creationTimestamp"] = None
    pod(body).update(volumes=[], nodeSelector={}, tolerations=[])
    container(body)["args"] = []


def _name_label(value: str) -> Mutation:
    def mutation(body: dict[str, Any]) -> None:
        body["metadata"]["labels"]["kubernetes.io/metadata.name"] = value

    return mutation


def _reversed(key: str) -> Mutation:
    def mutation(body: dict[str, Any]) -> None:
        container(body)[key].reverse()

    return mutation


def _probe(**fields: Any) -> Mutation:
    return _in_container("readinessProbe", {"httpGet": {"path": "/ready", "port": 8080}, **fields})


def _config_volume(**fields: Any) -> Mutation:
    return _in_pod("volumes", [{"name": "conf", "configMap": {"name": "web", **fields}}])


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    same: tuple[Mutation, ...]  # what the server adds or rewrites: no drift
    near: tuple[Mutation, ...]  # a near miss: exactly ``lines`` drift
    lines: tuple[str, ...]
    desired: tuple[Mutation, ...] = ()


CASES = [
    Case(
        "server-metadata-and-status",
        DEPLOYMENT,
        (_server_metadata,),
        (_server_metadata, _set("metadata.annotations.owner", "team-x")),
        ("+  annotations:", "+    owner: team-x"),
    ),
    Case(
        "deployment-defaults",
        DEPLOYMENT,
        (_deployment_defaults,),
        (_deployment_defaults, _set("spec.revisionHistoryLimit", 5)),
        ("+  revisionHistoryLimit: 5",),
    ),
    Case(
        "deployment-strategy-default",
        DEPLOYMENT,
        (_deployment_defaults,),
        (_deployment_defaults, _set("spec.strategy.rollingUpdate.maxSurge", 1)),
        ("+  strategy:", "+    rollingUpdate:", "+      maxSurge: 1"),
    ),
    Case(
        "container-defaults",
        DEPLOYMENT,
        (_container_defaults,),
        (_container_defaults, _in_container("terminationMessagePolicy", "FallbackToLogsOnError")),
        ("+        terminationMessagePolicy: FallbackToLogsOnError",),
    ),
    Case(
        "image-pull-policy-of-a-tagged-image",
        DEPLOYMENT,
        (_in_container("imagePullPolicy", "IfNotPresent"),),
        (_in_container("imagePullPolicy", "Always"),),
        ("+        imagePullPolicy: Always",),
    ),
    Case(
        "image-pull-policy-of-latest",
        DEPLOYMENT,
        (_in_container("imagePullPolicy", "Always"),),
        (_in_container("imagePullPolicy", "IfNotPresent"),),
        ("+        imagePullPolicy: IfNotPresent",),
        desired=(_in_container("image", "nginx:latest"),),
    ),
    Case(
        "image-pull-policy-of-an-untagged-image-on-a-registry-port",
        DEPLOYMENT,
        (_in_container("imagePullPolicy", "Always"),),
        (_in_container("imagePullPolicy", "IfNotPresent"),),
        ("+        imagePullPolicy: IfNotPresent",),
        desired=(_in_container("image", "registry.local:5000/shop/web"),),
    ),
    Case(
        "pod-defaults-and-empty-security-context",
        DEPLOYMENT,
        (_pod_defaults,),
        (_pod_defaults, _in_pod("dnsPolicy", "Default")),
        ("+      dnsPolicy: Default",),
    ),
    Case(
        "probe-defaults",
        DEPLOYMENT,
        (_probe(timeoutSeconds=1, periodSeconds=10, successThreshold=1, failureThreshold=3),),
        (_probe(timeoutSeconds=1, periodSeconds=5, successThreshold=1, failureThreshold=3),),
        ("+          periodSeconds: 5",),
        desired=(_probe(),),
    ),
    Case(
        "volume-default-mode",
        DEPLOYMENT,
        (_config_volume(defaultMode=420),),
        (_config_volume(defaultMode=256),),
        ("+          defaultMode: 256",),
        desired=(_config_volume(),),
    ),
    Case(
        "service-defaults-and-assigned-cluster-ip",
        SERVICE,
        (_service_defaults,),
        (_service_defaults, _set("spec.sessionAffinity", "ClientIP")),
        ("+  sessionAffinity: ClientIP",),
    ),
    Case(
        "headless-service-keeps-its-cluster-ip",
        SERVICE,
        (_service_defaults, _set("spec.clusterIP", "None"), _set("spec.clusterIPs", ["None"])),
        (_service_defaults,),
        ("-  clusterIP: None", "+  clusterIP: 10.96.12.7", "-  - None", "+  - 10.96.12.7"),
        desired=(_set("spec.clusterIP", "None"), _set("spec.clusterIPs", ["None"])),
    ),
    Case(
        "service-target-port-defaults-to-the-port",
        SERVICE,
        (_set("spec.ports", [{"name": "http", "port": 80, "targetPort": 80}]),),
        (_set("spec.ports", [{"name": "http", "port": 80, "targetPort": 8080}]),),
        ("+    targetPort: 8080",),
    ),
    Case(
        "quantity-spellings",
        DEPLOYMENT,
        (
            _in_container(
                "resources",
                {
                    "limits": {"cpu": "1000m", "memory": "1024Mi"},
                    "requests": {"cpu": 0.5, "memory": "536870912"},
                },
            ),
        ),
        (
            _in_container(
                "resources",
                {"limits": {"cpu": "1", "memory": "1G"}, "requests": {"cpu": "500m", "memory": "512Mi"}},
            ),
        ),
        ("-            memory: 1Gi", "+            memory: 1G"),
    ),
    Case(
        "duration-spellings",
        KUSTOMIZATION,
        (_set("spec.interval", "5m0s"), _set("spec.timeout", "90s")),
        (_set("spec.interval", "5m1s"), _set("spec.timeout", "90s")),
        ("-  interval: 300s", "+  interval: 301s"),
    ),
    Case(
        "empty-maps-lists-and-nulls",
        DEPLOYMENT,
        (_empties,),
        (_empties, _in_pod("nodeSelector", {"disk": "ssd"})),
        ("+      nodeSelector:", "+        disk: ssd"),
    ),
    Case(
        "env-order",
        DEPLOYMENT,
        (_reversed("env"),),
        (_reversed("env"), lambda body: container(body)["env"][0].update(value="3")),
        ("-          value: '2'", "+          value: '3'"),
    ),
    Case(
        "ports-order",
        DEPLOYMENT,
        (_reversed("ports"),),
        (_reversed("ports"), lambda body: container(body)["ports"][0].update(containerPort=9091)),
        ("-        - containerPort: 9090", "+        - containerPort: 9091"),
    ),
    Case(
        "namespace-finalizer-and-name-label",
        NAMESPACE,
        (_name_label("shop"), _set("spec.finalizers", ["kubernetes"])),
        (_name_label("shop"), _set("spec.finalizers", ["example.com/x"])),
        ("+spec:", "+  finalizers:", "+  - example.com/x"),
    ),
    Case(
        "namespace-name-label-of-another-name",
        NAMESPACE,
        (_name_label("shop"),),
        (_name_label("shop-old"),),
        ("+    kubernetes.io/metadata.name: shop-old",),
    ),
    Case(
        "cronjob-and-job-template-defaults",
        CRONJOB,
        (
            _set("spec.concurrencyPolicy", "Allow"),
            _set("spec.suspend", False),
            _set("spec.successfulJobsHistoryLimit", 3),
            _set("spec.failedJobsHistoryLimit", 1),
            _set("spec.jobTemplate.spec.backoffLimit", 6),
            _set("spec.jobTemplate.spec.completionMode", "NonIndexed"),
            _set("spec.jobTemplate.spec.template.spec.dnsPolicy", "ClusterFirst"),
        ),
        (_set("spec.successfulJobsHistoryLimit", 10), _set("spec.jobTemplate.spec.backoffLimit", 6)),
        ("+  successfulJobsHistoryLimit: 10",),
    ),
    Case(
        "daemonset-defaults",
        DAEMONSET,
        (
            _set("spec.revisionHistoryLimit", 10),
            _set(
                "spec.updateStrategy",
                {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            ),
        ),
        (_set("spec.updateStrategy", {"type": "OnDelete"}),),
        ("+  updateStrategy:", "+    type: OnDelete"),
    ),
    Case(
        "statefulset-defaults",
        STATEFULSET,
        (
            _set("spec.podManagementPolicy", "OrderedReady"),
            _set("spec.updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            _set(
                "spec.persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
            ),
        ),
        (_set("spec.podManagementPolicy", "Parallel"),),
        ("+  podManagementPolicy: Parallel",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_what_the_server_adds_or_rewrites_is_no_drift_and_its_near_miss_is(case: Case) -> None:
    desired = mutated(case.text, *case.desired)
    assert changed_lines(desired, mutated(case.text, *case.desired, *case.same)) == []
    assert changed_lines(desired, mutated(case.text, *case.desired, *case.near)) == list(case.lines)


def test_quantities_have_one_spelling() -> None:
    spell = driftnormalising.canonical_quantity
    assert [
        spell(v) for v in ("1000m", "1", 1, 1.0, "0.5", "500m", "1Gi", "1024Mi", "1e3", "1k", "", "x")
    ] == [
        "1",
        "1",
        "1",
        "1",
        "500m",
        "500m",
        "1Gi",
        "1Gi",
        "1k",
        "1k",
        "",
        "x",
    ]


def test_durations_have_one_spelling() -> None:
    spell = driftnormalising.canonical_duration
    assert [spell(v) for v in ("1h30m", "90m", "5400s", "1.5h", "250ms", "5m0s", "soon", "")] == [
        "5400s",
        "5400s",
        "5400s",
        "5400s",
        "0.25s",
        "300s",
        "soon",
        "",
    ]


def test_a_configmap_value_that_looks_like_a_duration_is_compared_as_written() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\ndata: {timeout: 5m}\n"
    assert changed_lines(mutated(text), mutated(text, _set("data.timeout", "300s"))) == [
        "-  timeout: 5m",
        "+  timeout: 300s",
    ]
