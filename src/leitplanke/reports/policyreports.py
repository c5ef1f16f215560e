"""``wgpolicyk8s.io/v1alpha2`` reports: a PolicyReport per namespace and one ClusterPolicyReport.

Called by ``reports.render_report`` for the ``policyreport`` format; the YAML stream can be
applied to a cluster that has the CRDs. A waived result is reported as ``skip``, as Kyverno does;
a policy that could not run is an ``error`` entry of the ClusterPolicyReport.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import yaml

from leitplanke.core.policies import BrokenPolicy, Policy
from leitplanke.core.results import Resource, Result, ScanReport, Verdict
from leitplanke.reports import summaries

API_VERSION = "wgpolicyk8s.io/v1alpha2"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REPORT_NAME = "leitplanke-scan"
SOURCE = "leitplanke"
# libyaml's emitter when PyYAML has it: about three times faster than the pure-Python one, same text
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LABELS: Mapping[str, str] = {"app.kubernetes.io/managed-by": "leitplanke"}
# manifests in a repository often leave the namespace out; kubectl would apply them here
DEFAULT_NAMESPACE = "default"
# built-in kinds without a namespace; other kinds are taken to be namespaced
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


def render(report: ScanReport, *, policies: Mapping[str, Policy], now: datetime) -> str:
    """The namespaced reports sorted by namespace, then the cluster report, as one YAML stream."""
    buffer = io.StringIO()
    write(report, buffer, policies=policies, now=now)
    return buffer.getvalue()


def write(report: ScanReport, out: TextIO, *, policies: Mapping[str, Policy], now: datetime) -> None:
    """``render``, written to ``out`` a chunk of results at a time, so memory stays bounded."""
    del policies  # results carry category and controls already
    timestamp = _timestamp(now)
    namespaced: dict[str, list[Result]] = {}
    cluster: list[Result] = []
    for result in summaries.ordered(report):
        namespace = report_namespace(result.resource)
        if namespace:
            namespaced.setdefault(namespace, []).append(result)
        else:
            cluster.append(result)
    reports = [("PolicyReport", namespace, namespaced[namespace]) for namespace in sorted(namespaced)]
    for kind, namespace, results in [*reports, ("ClusterPolicyReport", "", cluster)]:
        document = _report(kind, results[:0], timestamp, namespace=namespace)
        for result in results:
            document["summary"][status(result)] += 1
        # the cluster report says which policies could not run: an error entry each, no resource
        broken = [_broken_entry(b, timestamp) for b in report.broken] if not namespace else []
        document["summary"][Verdict.ERROR.value] += len(broken)
        if not results and not broken:
            out.write(_dump(document, explicit_start=True))
            continue
        # the results come last: the document without them, then them, a chunk at a time
        del document["results"]
        out.write(_dump(document, explicit_start=True) + "results:\n")
        for start in range(0, len(results), _CHUNK):
            chunk = [_entry(r, timestamp, namespace=namespace) for r in results[start : start + _CHUNK]]
            out.write(_dump(chunk))
        if broken:
            out.write(_dump(broken))


_CHUNK = 2000


def build_report(
    kind: str,
    results: Sequence[Result],
    *,
    now: datetime,
    namespace: str,
    name: str,
    labels: Mapping[str, str] = LABELS,
) -> dict[str, Any]:
    """One report object holding ``results`` (a namespace's, or the cluster's with ``namespace=""``),
    named ``name``: what the cluster agent applies (``leitplanke.agent.reporting``)."""
    document = _report(kind, results, _timestamp(now), namespace=namespace)
    document["metadata"]["name"] = name
    document["metadata"]["labels"] = {**LABELS, **labels}
    return document


def _dump(value: Any, *, explicit_start: bool = False) -> str:
    return yaml.dump(
        value, Dumper=_DUMPER, sort_keys=False, explicit_start=explicit_start, allow_unicode=True
    )


def report_namespace(resource: Resource) -> str:
    """The namespace whose report lists ``resource``, or ``""`` for the cluster report."""
    if resource.namespace:
        return resource.namespace
    if resource.domain != "kubernetes" or resource.kind in CLUSTER_SCOPED_KINDS:
        return ""
    return DEFAULT_NAMESPACE


def status(result: Result) -> str:
    return Verdict.SKIP.value if result.waiver else result.verdict.value


def _report(
    kind: str, results: Sequence[Result], timestamp: Mapping[str, int], *, namespace: str
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": REPORT_NAME}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(LABELS)
    entries = [_entry(result, timestamp, namespace=namespace) for result in results]
    summary = dict.fromkeys((verdict.value for verdict in Verdict), 0)
    for entry in entries:
        summary[entry["result"]] += 1
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "summary": summary,
        "results": entries,
    }


def _entry(result: Result, timestamp: Mapping[str, int], *, namespace: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"policy": result.policy, "rule": result.rule, "result": status(result)}
    entry["severity"] = result.severity.label
    if result.category:
        entry["category"] = result.category
    if result.message:
        entry["message"] = result.message
    entry["source"] = SOURCE
    entry["scored"] = True
    entry["resources"] = [_reference(result.resource, namespace)]
    entry["timestamp"] = dict(timestamp)
    entry["properties"] = _properties(result)
    return entry


def _broken_entry(broken: BrokenPolicy, timestamp: Mapping[str, int]) -> dict[str, Any]:
    properties = {
        "kind": broken.kind,
        "file": broken.file,
        "line": str(broken.line) if broken.line else "",
        "codes": ",".join(dict.fromkeys(problem.code for problem in broken.problems)),
    }
    return {
        "policy": broken.name or broken.file,
        "result": Verdict.ERROR.value,
        "message": f"the policy could not run: {broken.reason}",
        "source": SOURCE,
        "scored": True,
        "timestamp": dict(timestamp),
        "properties": {name: value for name, value in properties.items() if value},
    }


def _reference(resource: Resource, namespace: str) -> dict[str, str]:
    reference = {"apiVersion": resource.api_version, "kind": resource.kind, "name": resource.name}
    if namespace:
        reference["namespace"] = namespace
    return reference


def _properties(result: Result) -> dict[str, str]:
    # the CRD allows only string values here
    location = result.location
    values = {
        "controls": ",".join(result.controls),
        "file": location.file,
        "line": str(location.line) if location.line else "",
        "path": location.path,
        "waiver": result.waiver,
    }
    return {name: value for name, value in values.items() if value}


def _timestamp(now: datetime) -> dict[str, int]:
    moment = summaries.utc(now)
    seconds = (moment.replace(microsecond=0) - EPOCH) // timedelta(seconds=1)
    return {"seconds": seconds, "nanos": moment.microsecond * 1000}
