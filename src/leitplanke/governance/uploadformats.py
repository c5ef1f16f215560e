"""The scan upload formats: what a result, a header and a pass count may hold, checked one value at a time.

``leitplanke.dev/upload/v2`` (NDJSON: a header line, then one line per result that is not a pass, and
optionally one line of pass counts per resource) is written by the CLI's ``scan --upload``
(``uploadrendering``); the service's upload parser (``service.uploadparsing``) checks every decoded line
with ``check_*`` and collects at most ``MAX_ISSUES`` issues, each with its field path.
The old ``leitplanke.dev/scan/v1`` report carries results of the same shape. A header names the upload's
``source`` (absent: ``ci``); the service fixes only the findings that source last reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict

SCHEMA_VERSION = "leitplanke.dev/upload/v2"
REPORT_SCHEMA_VERSION = "leitplanke.dev/scan/v1"
MEDIA_TYPE = "application/x-ndjson"
MAX_ISSUES = 20
MAX_MESSAGE = 4096  # characters of a result's message; the CLI shortens longer ones
MAX_SUMMARY = 16384  # bytes of the summary as compact JSON
MAX_LINE = 65536  # bytes of one NDJSON line

# policy ids are Kubernetes object names (the built-in packs, Kyverno policies, Gatekeeper constraints and
# admission policy bindings all are); rule names are freer (Kyverno's camelCase, Gatekeeper's kinds)
POLICY = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
RULE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
APP = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
API_VERSION = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]+")
DOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# a DNS-1123 label, where unrendered templates (Cluster API's ${NAMESPACE}) may hold placeholders
NAMESPACE = re.compile(r"(?:[a-z0-9-]|\$\{[A-Za-z_][A-Za-z0-9_]*\})+")
# Kubernetes names: DNS-1123 subdomains, RBAC's colons (system:auth-delegator), template placeholders
KUBERNETES_NAME = re.compile(r"[A-Za-z0-9._:@#+=~,${}-]+")
# other domains' names come from files and configs (sshd_config, _:80, *.example.com:443#2): printable,
# without blanks, markup or quotes
CONFIG_NAME = re.compile(r"[^\s<>&|`\"'\\\x00-\x1f\x7f]+")
# who scanned: ``ci`` (``scan --upload``), ``drift``, ``cluster:<name>`` (the agent), ``admission``, …
SOURCE = re.compile(r"[a-z][a-z0-9-]*(:[A-Za-z0-9][A-Za-z0-9._-]*)*")
DEFAULT_SOURCE = "ci"
MAX_CATEGORY = 100  # characters of a result's category ("Pod Security", "drift")
UNSAFE_TEXT = re.compile(r"[\x00\ud800-\udfff]")
_VERDICTS = {verdict.value: verdict for verdict in Verdict}
_SEVERITIES = {severity.label: severity for severity in sorted(Severity, reverse=True)}


@dataclass(slots=True)
class Issues:
    """The first ``MAX_ISSUES`` problems of an upload, each ``{"field", "message"}``."""

    items: list[dict[str, str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        if len(self.items) < MAX_ISSUES:
            self.items.append({"field": path, "message": message})

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ISSUES

    def __bool__(self) -> bool:
        return bool(self.items)


def check_text(value: Any, path: str, issues: Issues, *, limit: int, required: bool = False) -> str | None:
    """A string of at most ``limit`` characters without NUL or lone surrogates, or None (an issue added)."""
    if not isinstance(value, str):
        issues.add(path, "must be a string")
        return None
    if required and not value:
        issues.add(path, "must not be empty")
        return None
    if len(value) > limit:
        issues.add(path, f"must be at most {limit} characters long")
        return None
    if UNSAFE_TEXT.search(value):
        issues.add(path, "must not contain NUL characters or unpaired surrogates")
        return None
    return value


def check_name(
    value: Any, path: str, issues: Issues, *, pattern: re.Pattern[str], limit: int, required: bool = True
) -> str | None:
    """A name matching ``pattern`` whole, of at most ``limit`` characters (empty when not ``required``)."""
    text = check_text(value, path, issues, limit=limit, required=required)
    if text is None or not text:
        return text
    if pattern.fullmatch(text) is None:
        issues.add(path, f"must match {pattern.pattern}")
        return None
    return text


def _integer(value: Any, path: str, issues: Issues) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31 - 1:
        issues.add(path, "must be a whole number from 0 to 2147483647")
        return None
    return value


def _mapping(value: Any, path: str, issues: Issues) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        issues.add(path, "must be an object")
        return None
    return value


def check_resource(value: Any, path: str, issues: Issues) -> Resource | None:
    """``{"apiVersion", "kind", "namespace", "name", "domain"}`` of a scanned document."""
    body = _mapping(value, path, issues)
    if body is None:
        return None
    before = len(issues.items)
    domain = check_name(body.get("domain", "kubernetes"), f"{path}.domain", issues, pattern=DOMAIN, limit=63)
    name_pattern = KUBERNETES_NAME if domain == "kubernetes" else CONFIG_NAME
    api_version = check_name(
        body.get("apiVersion", ""),
        f"{path}.apiVersion",
        issues,
        pattern=API_VERSION,
        limit=253,
        required=False,
    )
    kind = check_name(body.get("kind", ""), f"{path}.kind", issues, pattern=KIND, limit=63, required=False)
    namespace = check_name(
        body.get("namespace", ""), f"{path}.namespace", issues, pattern=NAMESPACE, limit=63, required=False
    )
    name = check_name(
        body.get("name", ""), f"{path}.name", issues, pattern=name_pattern, limit=253, required=False
    )
    if len(issues.items) > before or None in (domain, api_version, kind, namespace, name):
        return None
    return Resource(api_version or "", kind or "", namespace or "", name or "", domain or "kubernetes")


def _location(value: Any, path: str, issues: Issues) -> Location | None:
    body = _mapping({} if value is None else value, path, issues)
    if body is None:
        return None
    file = check_text(body.get("file", ""), f"{path}.file", issues, limit=4096)
    line = _integer(body.get("line", 0), f"{path}.line", issues)
    where = check_text(body.get("path", ""), f"{path}.path", issues, limit=1000)
    index = _integer(body.get("index", 0), f"{path}.index", issues)
    if file is None or line is None or where is None or index is None:
        return None
    return Location(file, line, where, index)


def check_result(value: Any, path: str, issues: Issues) -> Result | None:
    """One result as the JSON report writes it (extra fields such as ``fix`` are ignored), or None."""
    body = _mapping(value, path, issues)
    if body is None:
        return None
    before = len(issues.items)
    policy = check_name(body.get("policy"), f"{path}.policy", issues, pattern=POLICY, limit=253)
    rule = check_name(body.get("rule"), f"{path}.rule", issues, pattern=RULE, limit=253)
    verdict = _VERDICTS.get(str(body.get("verdict")))
    if verdict is None:
        issues.add(f"{path}.verdict", f"must be one of {', '.join(_VERDICTS)}")
    severity = _SEVERITIES.get(str(body.get("severity")))
    if severity is None:
        issues.add(f"{path}.severity", f"must be one of {', '.join(_SEVERITIES)}")
    message = check_text(body.get("message", ""), f"{path}.message", issues, limit=MAX_MESSAGE)
    resource = check_resource(body.get("resource"), f"{path}.resource", issues)
    location = _location(body.get("location"), f"{path}.location", issues)
    waiver = body.get("waiver") or ""
    waiver = check_name(waiver, f"{path}.waiver", issues, pattern=RULE, limit=253, required=False)
    category = check_text(body.get("category") or "", f"{path}.category", issues, limit=MAX_CATEGORY)
    if len(issues.items) > before:
        return None
    assert policy and rule and verdict and severity and resource and location  # no issue: all checked
    return Result(
        policy,
        rule,
        resource,
        verdict,
        severity,
        message or "",
        location,
        waiver=waiver or "",
        category=category or "",
    )


class ResultChecker:
    """``check_result`` for the many results of one upload: names, resources and paths seen before (a
    scan repeats them across its results) are not checked again. At most ``MAX_KNOWN`` of each are kept."""

    MAX_KNOWN = 100_000

    def __init__(self, issues: Issues) -> None:
        self.issues = issues
        self.rules: set[tuple[Any, Any, Any, Any]] = set()  # (policy, rule, waiver, category) checked
        self.resources: dict[tuple[Any, ...], Resource] = {}
        self.locations: dict[Any, Location] = {}

    def result(self, value: Any, path: str) -> Result | None:
        try:
            known = self._known(value)
        except TypeError:  # a list or an object where a name belongs: unhashable, checked in full below
            known = None
        return known if known is not None else self._checked(value, path)

    def _known(self, value: Any) -> Result | None:
        """The result when everything but its message was seen before and its message is clean."""
        if type(value) is not dict:
            return None
        get: Any = value.get
        policy, rule, waiver, message = get("policy"), get("rule"), get("waiver"), get("message", "")
        category = get("category")
        verdict, severity = _VERDICTS.get(get("verdict")), _SEVERITIES.get(get("severity"))
        location = self.locations.get(_location_key(get("location")))
        resource = self.resources.get(_resource_key(get("resource")))
        if (
            verdict is None
            or severity is None
            or location is None
            or resource is None
            or (policy, rule, waiver, category) not in self.rules  # a category checked with its rule
            or type(message) is not str
            or len(message) > MAX_MESSAGE
            or UNSAFE_TEXT.search(message)
        ):
            return None
        return Result(
            policy,
            rule,
            resource,
            verdict,
            severity,
            message,
            location,
            waiver=waiver or "",
            category=category or "",
        )

    def passes(self, value: Mapping[str, Any], path: str) -> int | None:
        """``check_passes``, its resource not checked again when it was seen before."""
        count = value.get("passes")
        key: tuple[Any, ...] | None = _resource_key(value.get("resource"))
        try:
            known = key in self.resources
        except TypeError:  # unhashable: checked in full below
            known, key = False, None
        if known and type(count) is int and 0 <= count <= 2**31 - 1:
            return count
        checked = _integer(count, f"{path}.passes", self.issues)
        resource = check_resource(value.get("resource"), f"{path}.resource", self.issues)
        if resource is None:
            return None
        if key is not None and len(self.resources) < self.MAX_KNOWN:
            self.resources[key] = resource
        return checked

    def _checked(self, value: Any, path: str) -> Result | None:
        result = check_result(value, path, self.issues)
        if result is None or len(self.resources) >= self.MAX_KNOWN or len(self.locations) >= self.MAX_KNOWN:
            return result
        self.rules.add((value.get("policy"), value.get("rule"), value.get("waiver"), value.get("category")))
        self.resources[_resource_key(value.get("resource"))] = result.resource
        self.locations[_location_key(value.get("location"))] = result.location
        return result


def _resource_key(value: Any) -> tuple[Any, ...]:
    if type(value) is not dict:
        return ()
    get = value.get
    return (get("apiVersion", ""), get("kind", ""), get("namespace", ""), get("name", ""), get("domain"))


def _location_key(value: Any) -> Any:
    if value is None:
        return ("", 0, "", 0)
    if type(value) is not dict:
        return None
    get = value.get
    return (get("file", ""), get("line", 0), get("path", ""), get("index", 0))


def check_passes(value: Mapping[str, Any], path: str, issues: Issues) -> int | None:
    """A pass count line ``{"passes": N, "resource": {...}}``: N passing checks of one resource."""
    count = _integer(value.get("passes"), f"{path}.passes", issues)
    resource = check_resource(value.get("resource"), f"{path}.resource", issues)
    return None if resource is None else count


def check_summary(value: Any, path: str, issues: Issues) -> dict[str, Any] | None:
    """The report's summary: an object of at most ``MAX_SUMMARY`` bytes whose strings are clean."""
    body = _mapping({} if value is None else value, path, issues)
    if body is None:
        return None
    try:
        size = len(orjson.dumps(body))
    except (TypeError, orjson.JSONEncodeError):  # a lone surrogate: found below with its path
        size = 0
    if size > MAX_SUMMARY:
        issues.add(path, f"must be at most {MAX_SUMMARY} bytes as JSON")
        return None
    before = len(issues.items)
    _check_strings(body, path, issues, depth=0)
    return dict(body) if len(issues.items) == before else None


def _check_strings(value: Any, path: str, issues: Issues, *, depth: int) -> None:
    if depth > 8:
        issues.add(path, "is nested too deeply")
    elif isinstance(value, str):
        check_text(value, path, issues, limit=MAX_SUMMARY)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key, f"{path}.{key!s}", issues, limit=200)
            _check_strings(item, f"{path}.{key!s}", issues, depth=depth + 1)
    elif isinstance(value, list):
        for number, item in enumerate(value):
            _check_strings(item, f"{path}[{number}]", issues, depth=depth + 1)


@dataclass(frozen=True, slots=True)
class Header:
    app: str
    env: str
    generated_at: str
    summary: dict[str, Any]
    source: str = DEFAULT_SOURCE


def check_header(
    value: Any, issues: Issues, *, version: str = SCHEMA_VERSION, prefix: str = ""
) -> Header | None:
    """The first line of a v2 upload: ``schemaVersion``, ``app``, ``env``, ``generatedAt``, ``summary`` and
    the optional ``source`` (``ci`` when absent)."""
    body = _mapping(value, prefix or "header", issues)
    if body is None:
        return None
    before = len(issues.items)
    if body.get("schemaVersion") != version:
        issues.add(f"{prefix}schemaVersion", f"must be {version}")
    app = check_name(body.get("app"), "app", issues, pattern=APP, limit=100)
    env = check_name(body.get("env"), "env", issues, pattern=APP, limit=100)
    generated_at = check_text(body.get("generatedAt", ""), f"{prefix}generatedAt", issues, limit=40)
    summary = check_summary(body.get("summary"), f"{prefix}summary", issues)
    source = check_name(
        body.get("source", DEFAULT_SOURCE), f"{prefix}source", issues, pattern=SOURCE, limit=200
    )
    if len(issues.items) > before:
        return None
    assert app and env and generated_at is not None and summary is not None and source
    return Header(app=app, env=env, generated_at=generated_at, summary=summary, source=source)
