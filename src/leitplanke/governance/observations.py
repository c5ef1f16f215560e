"""What one uploaded scan says about its findings, collected before the ingestion's transaction opens.

``collect`` consumes the results once (any iterable: a generator parsing a body as it arrives) and keeps per
fingerprint only what a finding row needs; ``resolve`` then decides, against the service's approved,
unexpired waivers, which observations are waived. A waiver name claimed by the client (a ``skip`` with
``waiver``) waives nothing by itself. Called by ``findings.ingest_scan``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from leitplanke.core import waivers as core_waivers
from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict

_SEVERITIES = {severity.label: severity for severity in Severity}  # a constant: label -> Severity


def fingerprint_of(policy: str, rule: str, resource: Resource, path: str) -> str:
    """sha256 over policy, rule, resource apiVersion/kind/namespace/name and the field path."""
    parts = (policy, rule, resource.api_version, resource.kind, resource.namespace, resource.name, path)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(slots=True)
class Observation:
    """One failing (or waiver-claiming) result, as much of it as a finding keeps."""

    policy: str
    rule: str
    resource: Resource
    path: str
    severity: str  # the label: critical, high, ...
    message: str
    failing: bool  # verdict fail; False: a skip that claims a waiver
    waiver: str = ""  # the service waiver that covers it, set by ``resolve``; "" while failing
    category: str = ""  # the result's: "drift", a pack's "Pod Security", or ""
    file: str = ""  # the manifest file the result is in, as the upload names it

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def namespace(self) -> str:
        return self.resource.namespace

    @property
    def name(self) -> str:
        return self.resource.name

    def as_result(self) -> Result:
        """A Result describing the finding (for the audit of its transition)."""
        return Result(
            policy=self.policy,
            rule=self.rule,
            resource=self.resource,
            verdict=Verdict.SKIP if self.waiver else Verdict.FAIL,
            severity=_SEVERITIES[self.severity],
            message=self.message,
            location=Location(file="", line=0, path=self.path),
            waiver=self.waiver,
        )


@dataclass(slots=True)
class Observed:
    findings: dict[str, Observation] = field(default_factory=dict)  # by fingerprint
    claims: dict[str, set[str]] = field(default_factory=dict)  # claimed waiver name -> fingerprints
    results: int = 0  # every result consumed, passes included

    def failing(self) -> int:
        return sum(1 for item in self.findings.values() if not item.waiver)


def collect(results: Iterable[Result]) -> Observed:
    """Consume ``results`` once, counting them; per fingerprint "fail" wins over a claimed waiver.

    Repeated strings (policies, rules, kinds, names) are shared, so that memory grows with the
    distinct failures, not with the size of the upload.
    """
    observed = Observed()
    shared: dict[str, str] = {}
    resources: dict[Resource, Resource] = {}
    labels = {severity: severity.label for severity in Severity}
    fail, skip = Verdict.FAIL, Verdict.SKIP  # enum members looked up once, not per result
    for result in results:
        observed.results += 1
        failing = result.verdict is fail
        if not failing and not (result.verdict is skip and result.waiver):
            continue
        resource = resources.setdefault(result.resource, result.resource)
        path = result.location.path
        key = fingerprint_of(result.policy, result.rule, resource, path)
        if not failing:
            observed.claims.setdefault(shared.setdefault(result.waiver, result.waiver), set()).add(key)
        known = observed.findings.get(key)
        if known is not None and (known.failing or not failing):
            continue
        observed.findings[key] = Observation(
            policy=shared.setdefault(result.policy, result.policy),
            rule=shared.setdefault(result.rule, result.rule),
            resource=resource,
            path=shared.setdefault(path, path),
            severity=labels[result.severity],
            message=result.message,
            failing=failing,
            category=shared.setdefault(result.category, result.category),
            file=result.location.file[:1000],
        )
    return observed


def resolve(observed: Observed, active: Sequence[core_waivers.Waiver]) -> list[str]:
    """Mark every observation an active service waiver covers as waived by it (the claimed waiver when
    that one covers it, else the first); the sorted claimed names the service does not recognise.

    A claim is recognised when it names an active waiver of the scope that covers the claiming
    result. Service waivers name their policies explicitly, so they are looked up by policy.
    """
    by_policy: dict[str, list[core_waivers.Waiver]] = {}
    for waiver in active:
        for policy in waiver.policies:
            by_policy.setdefault(policy, []).append(waiver)
    by_name = {waiver.name: waiver for waiver in active}
    claimed_by = {key: name for name, keys in observed.claims.items() for key in keys}
    for key, item in observed.findings.items():
        candidates = by_policy.get(item.policy)
        if not candidates:
            item.waiver = ""
            continue
        covering = [w.name for w in candidates if _covers(w, item)]
        claimed = claimed_by.get(key)
        if claimed is not None and claimed in covering:
            item.waiver = claimed
        else:
            item.waiver = covering[0] if covering else ""
    unrecognised = []
    for name, keys in observed.claims.items():
        named = by_name.get(name)
        if named is None or not all(_covers(named, observed.findings[key]) for key in keys):
            unrecognised.append(name)
    return sorted(unrecognised)


def _covers(waiver: core_waivers.Waiver, item: Observation) -> bool:
    return waiver.covers(policy=item.policy, rule=item.rule, resource=item.resource)
