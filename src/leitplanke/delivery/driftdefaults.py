"""What the Kubernetes API server adds or rewrites: the metadata it owns, defaulted fields, assigned values.

``driftnormalising`` strips each of them before desired and live objects are compared. A defaulted field is
removed from both sides when it holds its default, so that "left out in Git" and "defaulted by the server"
compare equal, and any other value still shows as drift. An assigned field (a Service's cluster IP) is
removed from the live object only when Git leaves it out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from leitplanke.core import documents

# metadata the server writes on every object
SERVER_METADATA = (
    "managedFields",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
)
# annotations written by kubectl and controllers, never by the author
SERVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
)
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_CONTAINER_LISTS = ("containers", "initContainers")

Expected = Callable[[Mapping[str, Any]], object]  # the default, computed from the field's parent


@dataclass(frozen=True, slots=True)
class Default:
    """``path`` (``*``: every item of a list) holds ``value`` unless the author says otherwise.

    ``value`` is a constant, or a function of the field's parent when the default depends on a sibling
    (``imagePullPolicy`` on the image's tag, a Service port's ``targetPort`` on its ``port``).
    """

    kinds: tuple[str, ...]  # () for every kind
    path: tuple[str, ...]
    value: object

    def expected(self, parent: Mapping[str, Any]) -> object:
        return self.value(parent) if callable(self.value) else self.value


def image_pull_policy(container: Mapping[str, Any]) -> str:
    """``Always`` for an image without a tag or with ``:latest`` (and no digest), else ``IfNotPresent``."""
    image = str(container.get("image", ""))
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def target_port(port: Mapping[str, Any]) -> object:
    """A Service port's ``targetPort`` defaults to its ``port``."""
    return port.get("port")


def _pod_defaults() -> list[tuple[tuple[str, ...], object]]:
    """Defaults inside a pod spec, relative to it."""
    found: list[tuple[tuple[str, ...], object]] = [
        (("restartPolicy",), "Always"),
        (("dnsPolicy",), "ClusterFirst"),
        (("schedulerName",), "default-scheduler"),
        (("terminationGracePeriodSeconds",), 30),
        (("enableServiceLinks",), True),
    ]
    for mode in ("configMap", "secret", "projected", "downwardAPI"):
        found.append((("volumes", "*", mode, "defaultMode"), 420))
    for containers in _CONTAINER_LISTS:
        each = (containers, "*")
        found += [
            ((*each, "terminationMessagePath"), "/dev/termination-log"),
            ((*each, "terminationMessagePolicy"), "File"),
            ((*each, "imagePullPolicy"), image_pull_policy),
            ((*each, "ports", "*", "protocol"), "TCP"),
        ]
        for probe in _PROBES:
            found += [
                ((*each, probe, "timeoutSeconds"), 1),
                ((*each, probe, "periodSeconds"), 10),
                ((*each, probe, "successThreshold"), 1),
                ((*each, probe, "failureThreshold"), 3),
                ((*each, probe, "httpGet", "scheme"), "HTTP"),
            ]
    return found


_WORKLOADS: tuple[tuple[str, tuple[str, ...], object], ...] = (
    ("Deployment", ("spec", "replicas"), 1),
    ("Deployment", ("spec", "revisionHistoryLimit"), 10),
    ("Deployment", ("spec", "progressDeadlineSeconds"), 600),
    ("Deployment", ("spec", "strategy", "type"), "RollingUpdate"),
    ("Deployment", ("spec", "strategy", "rollingUpdate", "maxUnavailable"), "25%"),
    ("Deployment", ("spec", "strategy", "rollingUpdate", "maxSurge"), "25%"),
    ("StatefulSet", ("spec", "replicas"), 1),
    ("StatefulSet", ("spec", "revisionHistoryLimit"), 10),
    ("StatefulSet", ("spec", "podManagementPolicy"), "OrderedReady"),
    ("StatefulSet", ("spec", "updateStrategy", "type"), "RollingUpdate"),
    ("StatefulSet", ("spec", "updateStrategy", "rollingUpdate", "partition"), 0),
    ("StatefulSet", ("spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"), "Retain"),
    ("StatefulSet", ("spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"), "Retain"),
    ("DaemonSet", ("spec", "revisionHistoryLimit"), 10),
    ("DaemonSet", ("spec", "updateStrategy", "type"), "RollingUpdate"),
    ("DaemonSet", ("spec", "updateStrategy", "rollingUpdate", "maxUnavailable"), 1),
    ("DaemonSet", ("spec", "updateStrategy", "rollingUpdate", "maxSurge"), 0),
    ("Job", ("spec", "backoffLimit"), 6),
    ("Job", ("spec", "completionMode"), "NonIndexed"),
    ("Job", ("spec", "suspend"), False),
    ("CronJob", ("spec", "concurrencyPolicy"), "Allow"),
    ("CronJob", ("spec", "suspend"), False),
    ("CronJob", ("spec", "successfulJobsHistoryLimit"), 3),
    ("CronJob", ("spec", "failedJobsHistoryLimit"), 1),
    ("CronJob", ("spec", "jobTemplate", "spec", "backoffLimit"), 6),
    ("CronJob", ("spec", "jobTemplate", "spec", "completionMode"), "NonIndexed"),
    ("CronJob", ("spec", "jobTemplate", "spec", "suspend"), False),
    ("Service", ("spec", "type"), "ClusterIP"),
    ("Service", ("spec", "sessionAffinity"), "None"),
    ("Service", ("spec", "ipFamilies"), ["IPv4"]),
    ("Service", ("spec", "ipFamilyPolicy"), "SingleStack"),
    ("Service", ("spec", "internalTrafficPolicy"), "Cluster"),
    ("Service", ("spec", "externalTrafficPolicy"), "Cluster"),
    ("Service", ("spec", "ports", "*", "protocol"), "TCP"),
    ("Service", ("spec", "ports", "*", "targetPort"), target_port),
    ("PersistentVolumeClaim", ("spec", "volumeMode"), "Filesystem"),
    ("Namespace", ("spec", "finalizers"), ["kubernetes"]),
)

# values the server assigns when the author leaves them out: removed from the live object only then
ASSIGNED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Service", ("spec", "clusterIP")),
    ("Service", ("spec", "clusterIPs")),
    ("Service", ("spec", "healthCheckNodePort")),
    ("Service", ("spec", "ports", "*", "nodePort")),
    ("PersistentVolumeClaim", ("spec", "volumeName")),
    ("PersistentVolumeClaim", ("spec", "storageClassName")),
    ("ServiceAccount", ("secrets",)),
    ("Pod", ("spec", "nodeName")),
)


@functools.cache
def defaults_of(kind: str) -> tuple[Default, ...]:
    """The defaults that apply to objects of ``kind``: its own, and its pod spec's when it has one."""
    found = [Default((k,), path, value) for k, path, value in _WORKLOADS if k == kind]
    prefix = documents.pod_spec_path(kind)
    if prefix is not None:
        found += [Default((kind,), (*prefix, *path), value) for path, value in _pod_defaults()]
    return tuple(found)


def assigned_of(kind: str) -> tuple[tuple[str, ...], ...]:
    return tuple(path for k, path in ASSIGNED if k == kind)
