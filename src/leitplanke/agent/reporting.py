"""Writing PolicyReports back: one per namespace, a ClusterPolicyReport for cluster-scoped objects.

Each report is built by ``reports.policyreports.build_report`` and written by server-side apply
(field manager ``leitplanke-agent``), only when its results changed. A namespace with more results
than ``max_results`` gets several reports (``leitplanke-agent``, ``leitplanke-agent-2``, …), each
annotated with its part and why; a namespace without results has none (they are deleted). With
``openreports`` the successor format (``openreports.io/v1alpha1`` Report, ClusterReport) is written
instead. Called by ``agent.processing``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitplanke.agent import discovering, metrics
from leitplanke.core.results import Result
from leitplanke.reports import policyreports
from leitplanke.sources import cluster

_log = logging.getLogger(__name__)
FIELD_MANAGER = "leitplanke-agent"
REPORT_NAME = "leitplanke-agent"
AGENT_LABEL = "leitplanke.dev/agent"
SPLIT_ANNOTATION = "leitplanke.dev/split"
MAX_RESULTS = 500  # per report: 500 results stay far below etcd's 1.5 MiB per object

WGPOLICY = (
    discovering.ServedType("wgpolicyk8s.io", "v1alpha2", "policyreports", "PolicyReport", True),
    discovering.ServedType(
        "wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports", "ClusterPolicyReport", False
    ),
)
OPENREPORTS = (
    discovering.ServedType("openreports.io", "v1alpha1", "reports", "Report", True),
    discovering.ServedType("openreports.io", "v1alpha1", "clusterreports", "ClusterReport", False),
)


def report_names(parts: int) -> list[str]:
    return [REPORT_NAME if part == 0 else f"{REPORT_NAME}-{part + 1}" for part in range(parts)]


def digest_of(results: Sequence[Result]) -> str:
    """What a report says, without its timestamps: unchanged results write nothing."""
    hashed = hashlib.sha256()
    for r in results:
        fields = (
            r.policy,
            r.rule,
            r.resource.api_version,
            r.resource.kind,
            r.resource.name,
            r.verdict.value,
            r.severity.label,
            r.message,
            r.location.path,
            r.waiver,
        )
        hashed.update("\x1f".join(fields).encode("utf-8", "replace") + b"\x1e")
    return hashed.hexdigest()


@dataclass(slots=True)
class ReportWriter:
    connection: cluster.Connection
    cluster_name: str
    figures: metrics.Metrics
    openreports: bool = False
    max_results: int = MAX_RESULTS
    written: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # namespace → digest, names

    @property
    def types(self) -> tuple[discovering.ServedType, discovering.ServedType]:
        return OPENREPORTS if self.openreports else WGPOLICY

    def adopt(self) -> None:
        """The agent's reports already in the cluster (a previous run's): rewritten or deleted as needed."""
        for served in self.types:
            try:
                items = self.connection.get(served.path()).get("items") or []
            except cluster.ClusterError as exc:
                if exc.status != 404:
                    raise
                _log.warning("%s are not served (is their CRD installed?): %s", served.qualified, exc)
                continue
            for item in items:
                metadata = item.get("metadata") or {}
                if (metadata.get("labels") or {}).get(AGENT_LABEL) != self.cluster_name:
                    continue
                namespace = str(metadata.get("namespace") or "")
                self.written.setdefault(namespace, ("", []))[1].append(str(metadata.get("name")))

    def write(self, namespace: str, results: Sequence[Result], *, now: datetime) -> bool:
        """The reports of ``namespace`` ("": the cluster's) as ``results`` say; False when the API refused."""
        ordered = sorted(results, key=Result.sort_key)
        digest = digest_of(ordered)
        before, names = self.written.get(namespace, ("", []))
        if ordered and digest == before:
            return True
        chunks = [ordered[i : i + self.max_results] for i in range(0, len(ordered), self.max_results)]
        served = self.types[0] if namespace else self.types[1]
        new_names = report_names(len(chunks))
        try:
            for number, (name, chunk) in enumerate(zip(new_names, chunks, strict=True)):
                body = self._build(chunk, namespace=namespace, name=name, now=now, part=(number, len(chunks)))
                self.connection.apply(
                    served.path(namespace=namespace, name=name), body, field_manager=FIELD_MANAGER, force=True
                )
                self.figures.report_writes.labels("apply").inc()
            for name in names:
                if name not in new_names:
                    self.connection.delete(served.path(namespace=namespace, name=name))
                    self.figures.report_writes.labels("delete").inc()
        except cluster.ClusterError as exc:
            self.figures.api_errors.labels(str(exc.status)).inc()
            _log.warning("the reports of %s were not written: %s", namespace or "the cluster", exc)
            self.written[namespace] = ("", sorted(set(names) | set(new_names)))  # written again later
            return False
        if chunks:
            self.written[namespace] = (digest, new_names)
        else:
            self.written.pop(namespace, None)
        if len(chunks) > 1:
            _log.info(
                "%s has %d results: split into %d reports",
                namespace or "the cluster",
                len(ordered),
                len(chunks),
            )
        return True

    def _build(
        self, results: Sequence[Result], *, namespace: str, name: str, now: datetime, part: tuple[int, int]
    ) -> dict[str, Any]:
        served = self.types[0] if namespace else self.types[1]
        body = policyreports.build_report(
            served.kind
            if not self.openreports
            else ("ClusterPolicyReport" if not namespace else "PolicyReport"),
            results,
            now=now,
            namespace=namespace,
            name=name,
            labels={AGENT_LABEL: self.cluster_name},
        )
        body["apiVersion"], body["kind"] = served.api_version, served.kind
        number, parts = part
        if parts > 1:
            why = f"part {number + 1} of {parts}: at most {self.max_results} results per report"
            body["metadata"]["annotations"] = {SPLIT_ANNOTATION: why}
        return body
