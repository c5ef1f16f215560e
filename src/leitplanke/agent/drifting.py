"""Drift in the agent: the live objects it holds compared with what Git says should run, per target.

A ``Target`` names a repository (a URL or a path), a revision and a path in it, and optionally the
(app, env) its findings belong to (else each object's owning app, as the agent scopes its results).
``Drifter.refresh`` reads the desired objects from Git (``delivery.driftloading``) every
``refresh_seconds``; ``Drifter.results`` compares them with the inventory through ``delivery.drift``
and gives the drift results by scope. ``agent.processing`` calls both when objects changed or Git may
have; the results go up as scans of the source ``cluster:<name>:drift``. ``Drifter.managed_fields``
says which managedFields the inventory keeps (for ignore rules naming field managers). Configured by
``parse_config``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from leitplanke.agent import inventories
from leitplanke.core.documents import Document
from leitplanke.core.policies import Severity
from leitplanke.core.problems import LeitplankeError, UsageError
from leitplanke.core.results import Result
from leitplanke.delivery import drift, driftignoring, driftloading
from leitplanke.sources import cluster


class Scoping(Protocol):
    """How an object's (app, env) is found: ``processing.Scoping`` (which imports this module)."""

    def scope_of(
        self, body: Mapping[str, Any], namespace: Mapping[str, Any] | None, *, cluster_name: str
    ) -> inventories.Scope | None: ...


_log = logging.getLogger(__name__)
# the agent's own reports are live objects Git never holds: never "extra"
REPORT_GROUPS = frozenset({"wgpolicyk8s.io", "openreports.io"})
_TARGET_KEYS = frozenset({"repo", "revision", "path", "namespace", "app", "env", "values"})
_CONFIG_KEYS = frozenset({"targets", "ignoreFile", "ignoreDifferences", "refreshSeconds", "severity"})


@dataclass(frozen=True, slots=True)
class Target:
    repo: str
    path: str
    revision: str = "HEAD"
    namespace: str = drift.DEFAULT_NAMESPACE  # of desired objects that name none
    app: str = ""  # with env: the scope of every finding; "" the owning app of each object
    env: str = ""
    helm_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    targets: tuple[Target, ...]
    rules: tuple[driftignoring.IgnoreRule, ...] = ()
    refresh_seconds: float = 60.0  # how often the desired state is read from Git again
    severity: Severity = Severity.MEDIUM


def load_config(path: Path) -> Config:
    """The drift configuration of a YAML file; its ``ignoreFile`` is read relative to it. UsageError
    naming the field of the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--drift-config {path}: cannot be read ({exc})") from exc
    return parse_config(text, file=str(path), base=path.parent)


def parse_config(text: str, *, file: str, base: Path) -> Config:
    """``{targets: [{repo, path, revision, namespace, app, env, values}], ignoreDifferences, ignoreFile,
    refreshSeconds, severity}`` (the rules of ``ignoreDifferences`` and of the file both apply)."""
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{file}: not YAML ({exc})") from exc
    if not isinstance(body, Mapping):
        raise UsageError(f"{file}: expected a mapping with targets")
    _no_other_keys(body, _CONFIG_KEYS, where=file)
    items = body.get("targets")
    if not isinstance(items, list) or not items:
        raise UsageError(f"{file}: targets: expected a list of at least one target")
    targets = tuple(_target(item, where=f"{file}: targets[{index}]") for index, item in enumerate(items))
    refresh = body.get("refreshSeconds", 60)
    if isinstance(refresh, bool) or not isinstance(refresh, int | float) or refresh <= 0:
        raise UsageError(f"{file}: refreshSeconds: expected a number above zero")
    try:
        severity = Severity.parse(str(body.get("severity", "medium")))
    except KeyError:
        raise UsageError(f"{file}: severity: use critical, high, medium, low or info") from None
    rules = _rules(body.get("ignoreDifferences"), file=file) if "ignoreDifferences" in body else []
    if body.get("ignoreFile"):
        ignore = base / str(body["ignoreFile"])
        try:
            rules_text = ignore.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{file}: ignoreFile {ignore}: cannot be read ({exc})") from exc
        rules += _parsed_rules(rules_text, file=str(ignore))
    return Config(targets=targets, rules=tuple(rules), refresh_seconds=float(refresh), severity=severity)


def _rules(value: Any, *, file: str) -> list[driftignoring.IgnoreRule]:
    """Rules written in the configuration itself (``ignoreDifferences``), as an ignore file holds them."""
    return _parsed_rules(yaml.safe_dump({"ignoreDifferences": value}), file=f"{file}: ignoreDifferences")


def _parsed_rules(text: str, *, file: str) -> list[driftignoring.IgnoreRule]:
    rules, problems = driftignoring.parse_rules(text, file=file)
    if problems:
        raise UsageError(f"{file}: {len(problems)} bad ignore rule(s)", problems=tuple(problems))
    return rules


def _target(item: Any, *, where: str) -> Target:
    if not isinstance(item, Mapping):
        raise UsageError(f"{where}: expected a mapping")
    _no_other_keys(item, _TARGET_KEYS, where=where)
    values: dict[str, str] = {}
    for key in ("repo", "path", "revision", "namespace", "app", "env"):
        value = item.get(key, "")
        if not isinstance(value, str):
            raise UsageError(f"{where}.{key}: expected a string")
        values[key] = value
    if not values["repo"]:
        raise UsageError(f"{where}.repo: required (a Git URL or a path)")
    if bool(values["app"]) != bool(values["env"]):
        raise UsageError(f"{where}: app and env go together")
    helm_values = item.get("values", [])
    if not isinstance(helm_values, list) or not all(isinstance(v, str) for v in helm_values):
        raise UsageError(f"{where}.values: expected a list of files")
    return Target(
        repo=values["repo"],
        path=driftloading.check_path(values["path"], option=f"{where}.path"),
        revision=values["revision"] or "HEAD",
        namespace=values["namespace"] or drift.DEFAULT_NAMESPACE,
        app=values["app"],
        env=values["env"],
        helm_values=tuple(helm_values),
    )


def _no_other_keys(body: Mapping[Any, Any], known: frozenset[str], *, where: str) -> None:
    unknown = sorted(str(key) for key in body if key not in known)
    if unknown:
        raise UsageError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


@dataclass(slots=True)
class Drifter:
    config: Config
    cluster_name: str
    desired: dict[int, list[Document]] = field(default_factory=dict)  # per target, as last read from Git
    refreshed_at: float = -math.inf  # time.monotonic() of the last read

    def managed_fields(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """What the comparison needs of ``body``'s managedFields (the agent keeps no others): the field
        sets of the managers named by the ignore rules that match it."""
        if not any(rule.managed_fields_managers for rule in self.config.rules):
            return []
        metadata = body.get("metadata")
        entries = metadata.get("managedFields") if isinstance(metadata, Mapping) else None
        if not isinstance(entries, list) or not entries:
            return []
        assert isinstance(metadata, Mapping)
        matching = driftignoring.matching(
            self.config.rules,
            api_version=str(body.get("apiVersion") or ""),
            kind=str(body.get("kind") or ""),
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name") or ""),
        )
        managers = {manager for rule in matching for manager in rule.managed_fields_managers}
        return [
            {"manager": entry["manager"], "fieldsV1": entry["fieldsV1"]}
            for entry in entries
            if isinstance(entry, Mapping)
            and entry.get("manager") in managers
            and isinstance(entry.get("fieldsV1"), Mapping)
        ]

    def due(self, monotonic: float) -> bool:
        return monotonic - self.refreshed_at >= self.config.refresh_seconds

    def refresh(self, monotonic: float) -> bool:
        """Every target's desired objects read from Git again; a target that cannot be read (or only in
        part) keeps what was read before. True when every target has a desired state."""
        self.refreshed_at = monotonic
        for index, target in enumerate(self.config.targets):
            try:
                loaded = driftloading.load_desired(
                    repo=target.repo,
                    revision=target.revision,
                    path=target.path,
                    helm_values=target.helm_values,
                )
            except LeitplankeError as exc:
                _log.warning(
                    "drift: %s at %s (%s) could not be read: %s",
                    target.repo,
                    target.revision,
                    target.path,
                    exc,
                )
                continue
            if loaded.problems:  # a side read in part would turn what could not be read into "extra"
                _log.warning("drift: %s: %d file(s) could not be read", target.repo, len(loaded.problems))
                continue
            self.desired[index] = loaded.documents
        return len(self.desired) == len(self.config.targets)

    def results(
        self, inventory: inventories.Inventory, *, scoping: Scoping
    ) -> dict[inventories.Scope, list[Result]] | None:
        """The drift results by scope (every target compared with the live objects), or None while a
        target's desired state was never read."""
        if len(self.desired) < len(self.config.targets):
            return None
        by_scope: dict[inventories.Scope, list[Result]] = {}
        for index, target in enumerate(self.config.targets):
            desired = self.desired[index]
            live = list(self._live(inventory, target, desired))
            found = drift.compare(desired, live, rules=self.config.rules, default_namespace=target.namespace)
            for item in found:
                if item.status is drift.Status.IN_SYNC:
                    continue
                scope = self._scope_of(item, target, inventory=inventory, scoping=scoping)
                if scope is not None:
                    by_scope.setdefault(scope, []).extend(
                        drift.build_results([item], severity=self.config.severity)
                    )
        return by_scope

    def _live(
        self, inventory: inventories.Inventory, target: Target, desired: list[Document]
    ) -> Iterator[Document]:
        """The live objects of the target's namespaces (namespaced ones: every one, for "extra") and the
        cluster-scoped objects Git names."""
        namespaces = {target.namespace} | {d.namespace for d in desired if d.namespace}
        for namespace in sorted(namespaces):
            for key, entry in inventory.in_namespace(namespace):
                if key[0] not in REPORT_GROUPS:
                    yield cluster.document_of(entry.document(managed_fields=True), cluster=self.cluster_name)
        wanted = {(d.kind, d.name) for d in desired if d.kind in drift.CLUSTER_SCOPED}
        if wanted:
            for key, entry in inventory.in_namespace(""):
                if (entry.kind, key[3]) in wanted:
                    yield cluster.document_of(entry.document(managed_fields=True), cluster=self.cluster_name)

    def _scope_of(
        self,
        item: drift.DriftResult,
        target: Target,
        *,
        inventory: inventories.Inventory,
        scoping: Scoping,
    ) -> inventories.Scope | None:
        if target.app:
            return target.app, target.env
        document = item.live or item.desired
        assert document is not None  # a result that is not in sync has the side it is about
        namespace = inventory.namespaces.get(item.resource.namespace) if item.resource.namespace else None
        return scoping.scope_of(document.body, namespace, cluster_name=self.cluster_name)
