"""Processing changes: each changed object evaluated, its namespace's reports and its scope marked.

The one thread that owns the ``Inventory``. ``apply`` takes a ``watching.Change``: an object whose
resourceVersion is unchanged is not evaluated again; changed ones are evaluated in batches (``settle``,
through ``evaluating.Evaluator``); a changed Namespace re-evaluates its objects (it is their
``namespaceObject``); a list's ``SYNCED`` removes what the list no longer held. ``flush``
runs the set-level rules of the namespaces that changed, writes their reports and uploads the
changed scopes, once every type has been listed (the first complete set of reports, never a partial
one). ``reload`` re-evaluates everything with new policies. With a ``drifting.Drifter``, a flush also
compares the live objects with Git when they changed or Git is due to be read again, and uploads the
drift of each scope. Called by ``agent.running``.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitplanke.agent import (
    assessing,
    discovering,
    drifting,
    evaluating,
    inventories,
    metrics,
    reporting,
    uploading,
    watching,
)
from leitplanke.core.results import Result
from leitplanke.governance import uploadformats

APP_LABEL = "leitplanke.dev/app"
ENV_LABEL = "leitplanke.dev/env"
# the recommended labels that may name an app of the catalog, when no APP_LABEL does
CATALOG_LABELS = ("app.kubernetes.io/part-of", "app.kubernetes.io/name")


@dataclass(frozen=True, slots=True)
class Scoping:
    """How an object's (app, env) is found: ``app_label`` on it, else on its Namespace, else a
    recommended label (``CATALOG_LABELS``) naming an app of the catalog; env likewise, else ``env``."""

    app_label: str = APP_LABEL
    env_label: str = ENV_LABEL
    env: str = ""  # the default environment; "" means the cluster's name
    catalog_apps: frozenset[str] = frozenset()  # the service's applications, by name

    def scope_of(
        self, body: Mapping[str, Any], namespace: Mapping[str, Any] | None, *, cluster_name: str
    ) -> inventories.Scope | None:
        own = _labels(body)
        around = _labels(namespace or {})
        app = own.get(self.app_label) or around.get(self.app_label) or self._from_catalog(own, around)
        env = own.get(self.env_label) or around.get(self.env_label) or self.env or cluster_name
        if not _is_name(app) or not _is_name(env):
            return None
        return app, env

    def _from_catalog(self, own: Mapping[str, str], around: Mapping[str, str]) -> str:
        """The first of the well-known app labels (its own, then its Namespace's) naming a catalog app."""
        for labels in (own, around):
            for label in CATALOG_LABELS:
                if labels.get(label) in self.catalog_apps:
                    return labels[label]
        return ""


def _labels(body: Mapping[str, Any]) -> Mapping[str, str]:
    labels = (body.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def _is_name(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 100 and uploadformats.APP.fullmatch(value) is not None


@dataclass(slots=True)
class Processor:
    evaluator: evaluating.Evaluator  # holds the policies
    cluster_name: str
    figures: metrics.Metrics
    writer: reporting.ReportWriter
    uploader: uploading.Uploader | None
    clock: Callable[[], datetime]
    expected: set[discovering.ServedType]
    scoping: Scoping = field(default_factory=Scoping)
    upload_seconds: float = 30.0
    # a namespace's reports are rewritten at most this often: under a stream of changes each write
    # carries many of them, instead of one write per change
    report_seconds: float = 10.0
    inventory: inventories.Inventory = field(default_factory=inventories.Inventory)
    # objects to evaluate (body, resourceVersion), in batches: one message to the evaluator carries many
    changed: dict[inventories.ObjectKey, tuple[dict[str, Any], str]] = field(default_factory=dict)
    synced: set[discovering.ServedType] = field(default_factory=set)
    dirty_namespaces: set[str] = field(default_factory=set)  # reports to write
    dirty_sets: set[str] = field(default_factory=set)  # set-level rules to run again
    dirty_scopes: set[inventories.Scope] = field(default_factory=set)
    completed: int = 0  # complete flushes so far
    last_upload: float = 0.0
    last_reports: float = 0.0
    drifter: drifting.Drifter | None = None
    drift_seconds: float = 10.0  # drift is compared at most this often under a stream of changes
    drift_changed: bool = True  # objects changed since drift was last compared
    drift_pending: set[inventories.Scope] = field(default_factory=set)  # drift uploads that failed
    last_drift: float = -math.inf
    drift: dict[inventories.Scope, list[Result]] = field(default_factory=dict)  # the latest, by scope

    @property
    def policies(self) -> assessing.Policies:
        return self.evaluator.policies

    @property
    def complete(self) -> bool:
        return self.expected <= self.synced

    @property
    def pending(self) -> bool:
        return bool(self.changed or self.dirty_namespaces or self.dirty_sets or self.dirty_scopes)

    def apply(self, change: watching.Change) -> None:
        served = change.served
        if change.event == watching.SYNCED:
            self.synced.add(served)
            listed = {(served.group, served.resource, ns, name) for ns, name in change.seen}
            queued = {key for key in self.changed if key[:2] == (served.group, served.resource)}
            for key in (self.inventory.keys_of(served.group, served.resource) | queued) - listed:
                self.changed.pop(key, None)
                self._delete(key)
            return
        metadata = change.body.get("metadata") or {}
        key = (
            served.group,
            served.resource,
            str(metadata.get("namespace") or ""),
            str(metadata.get("name") or ""),
        )
        if change.event == watching.DELETED:
            self.changed.pop(key, None)
            self._delete(key)
            return
        version = str(metadata.get("resourceVersion") or "")
        waiting, before = self.changed.get(key), self.inventory.entries.get(key)
        known = waiting[1] if waiting is not None else before.version if before is not None else None
        if version and known == version:
            return  # unchanged: its verdict stands
        self.changed[key] = (change.body, version)
        if served.group == "" and served.resource == "namespaces":
            self._namespace_changed(key[3], change.body)
        if len(self.changed) >= evaluating.BATCH:
            self.settle()

    def settle(self) -> None:
        """The changed objects evaluated, a batch at a time, and their entries stored."""
        while self.changed:
            batch = list(itertools.islice(self.changed.items(), evaluating.BATCH))
            for key, _ in batch:
                del self.changed[key]
            items = [(body, key[2]) for key, (body, _) in batch]
            try:
                found = self.evaluator.objects(items, namespaces=self.inventory.namespaces)
            except BaseException:  # no evaluator could be forked: the batch waits for the next settle
                for key, waiting in batch:
                    self.changed.setdefault(key, waiting)
                raise
            self.figures.evaluations.inc(len(batch))
            for (key, (body, version)), verdicts in zip(batch, found, strict=True):
                self._store(key, body, version=version, verdicts=verdicts)

    def _store(
        self,
        key: inventories.ObjectKey,
        body: dict[str, Any],
        *,
        version: str,
        verdicts: inventories.Verdicts,
    ) -> None:
        namespace = self.inventory.namespaces.get(key[2]) if key[2] else None
        scope = self.scoping.scope_of(body, namespace, cluster_name=self.cluster_name)
        before = self.inventory.entries.get(key)
        managed = self.drifter.managed_fields(body) if self.drifter is not None else None
        entry = self.inventory.build_entry(
            version=version, body=body, verdicts=verdicts, scope=scope, managed=managed
        )
        if before is not None:
            entry.set_results = before.set_results
            self._mark(key[2], before.scope)
        self.inventory.put(key, entry)
        self._mark(key[2], scope)
        self.figures.objects.set(len(self.inventory.entries))

    def _delete(self, key: inventories.ObjectKey) -> None:
        entry = self.inventory.drop(key)
        if entry is not None:
            self._mark(key[2], entry.scope)
            self.figures.objects.set(len(self.inventory.entries))
        if key[0] == "" and key[1] == "namespaces":
            self.inventory.namespaces.pop(key[3], None)

    def _namespace_changed(self, name: str, body: dict[str, Any]) -> None:
        """A Namespace is its objects' ``namespaceObject`` and scope: re-evaluate them when it changes."""
        before = self.inventory.namespaces.get(name)
        self.inventory.namespaces[name] = body
        if before is not None and _labels(before) == _labels(body):
            return
        for key, entry in self.inventory.in_namespace(name):
            self.changed.setdefault(key, (entry.document(managed_fields=True), entry.version))

    def _mark(self, namespace: str, scope: inventories.Scope | None) -> None:
        self.drift_changed = True
        self.dirty_namespaces.add(namespace)
        self.dirty_sets.add(namespace)
        if scope is not None:
            self.dirty_scopes.add(scope)

    def reload(self, policies: assessing.Policies) -> None:
        """New policies: every object evaluated again (from the bodies kept); reports and scopes rewritten."""
        self.settle()
        self.evaluator.replace(policies)
        for key, entry in list(self.inventory.entries.items()):
            self.changed[key] = (entry.document(managed_fields=True), entry.version)
            if len(self.changed) >= evaluating.BATCH:
                self.settle()
        self.settle()
        self.dirty_scopes.update(self.inventory.by_scope)

    def flush(self, *, force_upload: bool = False) -> None:
        """Set-level rules, reports and uploads for what changed; nothing before every type was listed."""
        self.settle()
        if not self.complete:
            return
        now = self.clock()
        if self.completed == 0:  # what a previous run left: reports to replace, scopes to bring up to date
            self.dirty_namespaces.update(self.writer.written)
            if self.uploader is not None:
                self.dirty_scopes.update(self.uploader.known_scopes())
        for namespace in sorted(self.dirty_sets):
            self._run_set_level(namespace, now=now)
        self.dirty_sets.clear()
        if self.completed == 0 or time.monotonic() - self.last_reports >= self.report_seconds:
            self.last_reports = time.monotonic()
            for namespace in sorted(self.dirty_namespaces):
                results = [
                    r for _, entry in self.inventory.in_namespace(namespace) for r in entry.all_results
                ]
                if self.writer.write(namespace, results, now=now):
                    self.dirty_namespaces.discard(namespace)
        due = time.monotonic() - self.last_upload >= self.upload_seconds
        if self.uploader is not None and (self.completed == 0 or due or force_upload):
            self.last_upload = time.monotonic()
            for scope in sorted(self.dirty_scopes):
                results = [r for entry in self.inventory.in_scope(scope) for r in entry.all_results]
                if self.uploader.upload(scope, results, now=now):
                    self.dirty_scopes.discard(scope)
        elif self.uploader is None:
            self.dirty_scopes.clear()
        if self.drifter is not None:
            self._compare_drift(self.drifter, now=now)
        self.completed += 1

    def _compare_drift(self, drifter: drifting.Drifter, *, now: datetime) -> None:
        """Git read again when due; the live objects compared when they or Git changed (at most every
        ``drift_seconds``); each scope's drift uploaded (an upload the service has is not sent again)."""
        monotonic = time.monotonic()
        refreshed = drifter.due(monotonic) and drifter.refresh(monotonic)
        changed = self.drift_changed and monotonic - self.last_drift >= self.drift_seconds
        if refreshed or changed or self.completed == 0:
            found = drifter.results(self.inventory, scoping=self.scoping)
            if found is None:  # Git never read: no drift is known, none is fixed
                return
            self.drift, self.drift_changed, self.last_drift = found, False, monotonic
            self.figures.drifted.set(sum(len(results) for results in found.values()))
            if self.uploader is not None:
                self.drift_pending |= set(found) | set(self.uploader.known_scopes(drift=True))
        if self.uploader is None:
            return
        for scope in sorted(self.drift_pending):
            if self.uploader.upload(scope, self.drift.get(scope, []), now=now, drift=True):
                self.drift_pending.discard(scope)

    def _run_set_level(self, namespace: str, *, now: datetime) -> None:
        if self.policies.set_level is None:
            return
        entries = list(self.inventory.in_namespace(namespace))
        results = self.evaluator.namespace(
            [entry.document() for _, entry in entries],
            namespace=namespace,
            namespace_object=self.inventory.namespaces.get(namespace),
            now=now,
        )
        by_object: dict[tuple[str, str], list[Result]] = {}
        for result in results:
            by_object.setdefault((result.resource.kind, result.resource.name), []).append(result)
        for key, entry in entries:
            fresh = by_object.get((entry.kind, key[3]), [])
            if fresh != entry.set_results and entry.scope is not None:
                self.dirty_scopes.add(entry.scope)
            entry.set_results = fresh
