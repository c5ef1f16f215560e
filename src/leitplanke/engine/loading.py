"""Loading policy-side files: native policies and waivers, from files, directories and packs.

Turns YAML into ``core.policies.Policy`` and ``core.waivers.Waiver`` values and
collects every authoring problem with file, line and field. Called by the CLI
and by ``testing``; compilation happens later in ``compiling``.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from leitplanke.core import documents
from leitplanke.core import policies as policies_module
from leitplanke.core.policies import Fix, Match, Policy, Rule, Severity, SourceRef
from leitplanke.core.problems import Level, Problem
from leitplanke.core.waivers import Waiver, WaiverScope, expiry_text
from leitplanke.engine import caching, yamlnodes
from leitplanke.engine.compiling import CompiledPolicy

API_VERSION = "leitplanke.dev/v1"
POLICY_SUFFIXES = (".yaml", ".yml")
DEFAULT_MAX_WAIVER_DAYS = 90


@dataclass(slots=True)
class Loaded:
    """What a set of policy-side files held: policies, waivers and the problems found."""

    policies: list[Policy] = field(default_factory=list)
    waivers: list[Waiver] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    other: list[tuple[str, yamlnodes.YamlDocument]] = field(default_factory=list)
    # policies of other engines (Kyverno), already built by ``compat`` into foreign CompiledPolicies
    foreign: list[CompiledPolicy] = field(default_factory=list)
    # Gatekeeper templates/constraints and VAPs/bindings: built once every file is read, as
    # they pair across files (and take params objects and inventory from ``other``)
    deferred: list[tuple[str, yamlnodes.YamlDocument]] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.policies.extend(other.policies)
        self.waivers.extend(other.waivers)
        self.problems.extend(other.problems)
        self.other.extend(other.other)
        self.foreign.extend(other.foreign)
        self.deferred.extend(other.deferred)

    def build_deferred(self) -> Loaded:
        """Pair what ``deferred`` holds into foreign policies (``other`` gives params and inventory)."""
        if not self.deferred:
            return self
        from leitplanke.engine.compat import admissionpolicies, gatekeeper

        pending, self.deferred = self.deferred, []
        kept = [(f, d) for f, d in self.other if isinstance(d.data, dict)]
        self.foreign.extend(
            gatekeeper.build_policies(
                [(f, d) for f, d in pending if not admissionpolicies.is_admission_policy(d.data)],
                inventory=[d.data for _, d in kept],
                problems=self.problems,
            )
        )
        self.foreign.extend(
            admissionpolicies.build_policies(
                [(f, d) for f, d in pending if admissionpolicies.is_admission_policy(d.data)],
                others=kept,
                problems=self.problems,
            )
        )
        return self


class Fields:
    """Typed access to one document's fields that records a Problem per bad field."""

    def __init__(self, doc: yamlnodes.YamlDocument, file: str, problems: list[Problem]) -> None:
        self.doc = doc
        self.file = file
        self.problems = problems

    def problem(self, path: str, code: str, message: str, level: Level = Level.ERROR) -> None:
        line = self.doc.line_of(path)
        self.problems.append(Problem(self.file, line, code, message, field=path, level=level))

    def get(self, path: str) -> Any:
        node: Any = self.doc.data
        for part in documents.parse_path(path):
            if isinstance(part, str) and isinstance(node, dict):
                node = node.get(part)
            elif isinstance(part, int) and isinstance(node, list) and part < len(node):
                node = node[part]
            else:
                return None
        return node

    def text(self, path: str, *, required: bool = False, default: str = "") -> str:
        value = self.get(path)
        if value is None:
            if required:
                self.problem(path, "missing-field", f"{path} is required")
            return default
        if not isinstance(value, str | int | float | bool):
            self.problem(path, "invalid-field", f"{path} must be a string")
            return default
        return str(value)

    def strings(self, path: str) -> tuple[str, ...]:
        value = self.get(path)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            self.problem(path, "invalid-field", f"{path} must be a list of strings")
            return ()
        return tuple(str(v) for v in value)

    def mapping(self, path: str) -> dict[str, Any]:
        value = self.get(path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, "invalid-field", f"{path} must be a mapping")
            return {}
        return value


def load_paths(
    paths: Sequence[str], *, now: datetime, max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS
) -> Loaded:
    """Load every policy and waiver file under ``paths`` (files or directories, recursive)."""
    loaded = Loaded()
    for path in paths:
        target = Path(path)
        if not target.exists():
            loaded.problems.append(Problem(path, 0, "not-found", "no such file or directory"))
            continue
        for file in _policy_files(target):
            loaded.extend(load_file(file, now=now, max_waiver_days=max_waiver_days))
    return loaded.build_deferred()


def _policy_files(target: Path) -> Iterator[Path]:
    if target.is_file():
        yield target
        return
    for file in sorted(target.rglob("*")):
        parts = file.relative_to(target).parts
        if any(p.startswith(".") for p in parts) or "tests" in parts[:-1]:
            continue
        if file.is_file() and file.suffix in POLICY_SUFFIXES:
            yield file


def load_file(path: Path, *, now: datetime, max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS) -> Loaded:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Loaded(problems=[Problem(str(path), 0, "unreadable", str(exc))])
    return load_text(text, file=str(path), now=now, max_waiver_days=max_waiver_days)


def load_text(
    text: str,
    *,
    file: str,
    now: datetime,
    max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS,
    pack: str = "",
) -> Loaded:
    loaded = Loaded()
    try:
        docs = list(yamlnodes.read_documents(text))
    except yaml.YAMLError as exc:
        line, column = yamlnodes.error_position(exc)
        reason = getattr(exc, "problem", None) or str(exc)
        loaded.problems.append(Problem(file, line, "yaml-syntax", str(reason), column=column))
        return loaded
    for doc in docs:
        if not isinstance(doc.data, dict):
            loaded.problems.append(
                Problem(file, doc.line_of(""), "not-a-mapping", "a policy document must be a mapping")
            )
            continue
        kind = doc.data.get("kind")
        api_version = str(doc.data.get("apiVersion", ""))
        if api_version == API_VERSION and kind == "Policy":
            policy = parse_policy(doc, file=file, problems=loaded.problems, pack=pack)
            if policy is not None:
                loaded.policies.append(policy)
        elif api_version == API_VERSION and kind == "Waiver":
            waiver = parse_waiver(doc, file=file, problems=loaded.problems, now=now, max_days=max_waiver_days)
            if waiver is not None:
                loaded.waivers.append(waiver)
        else:
            _load_other(doc, file=file, loaded=loaded)
    return loaded


def _load_other(doc: yamlnodes.YamlDocument, *, file: str, loaded: Loaded) -> None:
    """A document of another engine (Kyverno, Gatekeeper, admission policies) or an object a
    policy may read; the compatibility modules load only when such a document comes."""
    from leitplanke.engine.compat import admissionpolicies, gatekeeper, kyverno, kyvernovalidating

    if kyverno.is_kyverno(doc.data):
        built = kyverno.build_policy(doc, file=file, problems=loaded.problems)
        if built is not None:
            loaded.foreign.append(built)
    elif (
        gatekeeper.is_template(doc.data)
        or gatekeeper.is_constraint(doc.data)
        or admissionpolicies.is_admission_policy(doc.data)
    ):
        loaded.deferred.append((file, doc))
    elif kyvernovalidating.is_validating_policy(doc.data):
        built = kyvernovalidating.build_policy(doc, file=file, problems=loaded.problems)
        if built is not None:
            loaded.foreign.append(built)
    else:
        loaded.other.append((file, doc))


def parse_policy(
    doc: yamlnodes.YamlDocument, *, file: str, problems: list[Problem], pack: str = ""
) -> Policy | None:
    f = Fields(doc, file, problems)
    before = len(problems)
    name = f.text("metadata.name", required=True)
    severity = read_severity(f, "spec.severity")
    rules = tuple(_rules(f))
    if not rules and f.get("spec.rules") is None:
        f.problem("spec.rules", "missing-field", "spec.rules is required")
    params = f.mapping("spec.params")
    if len(problems) > before and any(p.level is Level.ERROR for p in problems[before:]):
        return None
    return Policy(
        id=name,
        title=f.text("spec.title", default=name),
        severity=severity,
        rules=rules,
        match=_match(f),
        category=f.text("spec.category"),
        controls=f.strings("spec.controls"),
        description=f.text("spec.description"),
        remediation=f.text("spec.remediation"),
        params=params,
        pack=pack,
        condition_line=doc.content_line("spec.match.condition"),
        source=SourceRef(file, doc.line_of("")),
    )


def read_severity(f: Fields, path: str) -> Severity:
    text = f.text(path, default="medium")
    try:
        return Severity.parse(text)
    except KeyError:
        allowed = ", ".join(s.label for s in sorted(Severity, reverse=True))
        f.problem(path, "invalid-severity", f"unknown severity {text!r}; use one of {allowed}")
        return Severity.MEDIUM


def _match(f: Fields) -> Match:
    kinds = f.strings("spec.match.kinds")
    pod_spec = f.get("spec.match.podSpec") is True
    if pod_spec:
        kinds = tuple(dict.fromkeys((*kinds, *documents.POD_KINDS)))
    return Match(
        kinds=kinds,
        api_groups=f.strings("spec.match.apiGroups"),
        namespaces=f.strings("spec.match.namespaces"),
        exclude_namespaces=f.strings("spec.match.excludeNamespaces"),
        label_selector=f.mapping("spec.match.selector"),
        condition=f.text("spec.match.condition"),
        domains=f.strings("spec.match.domains") or ("kubernetes",),
    )


def _rules(f: Fields) -> Iterator[Rule]:
    raw = f.get("spec.rules")
    if raw is None:
        return
    if not isinstance(raw, list) or not raw:
        f.problem("spec.rules", "invalid-field", "spec.rules must be a non-empty list")
        return
    seen: set[str] = set()
    for index in range(len(raw)):
        base = f"spec.rules[{index}]"
        if not isinstance(raw[index], dict):
            f.problem(base, "invalid-field", "a rule must be a mapping")
            continue
        name = f.text(f"{base}.name", required=True)
        if name in seen:
            f.problem(f"{base}.name", "duplicate-rule", f"rule {name!r} is defined twice")
        seen.add(name)
        scope = f.text(f"{base}.collectScope", default="namespace")
        if scope not in ("namespace", "cluster"):
            f.problem(f"{base}.collectScope", "invalid-field", "collectScope must be namespace or cluster")
        action = f.text(f"{base}.action", default="fail")
        if action not in ("fail", "warn"):
            f.problem(f"{base}.action", "invalid-field", "action must be fail or warn")
        yield Rule(
            name=name,
            validate=f.text(f"{base}.validate", required=True),
            message=f.text(f"{base}.message"),
            for_each=f.text(f"{base}.forEach"),
            path=f.text(f"{base}.path"),
            fix=_fix(f, f"{base}.fix"),
            collect=tuple(
                dict.fromkeys((*f.strings(f"{base}.collect"), *f.strings(f"{base}.collectCluster")))
            ),
            collect_scope=scope,
            collect_cluster=f.strings(f"{base}.collectCluster"),
            collect_filter=f.text(f"{base}.collectFilter"),
            collect_variables=_collect_variables(f, f"{base}.collectVariables"),
            verdict_on_fail=action,
            source=SourceRef(f.file, f.doc.line_of(base)),
            index=index,
            lines={
                key: f.doc.content_line(f"{base}.{key}")
                for key in (
                    "validate",
                    "message",
                    "forEach",
                    "collectFilter",
                    *(f"collectVariables.{name}" for name in f.mapping(f"{base}.collectVariables")),
                )
            },
        )


def _collect_variables(f: Fields, path: str) -> dict[str, str]:
    raw = f.mapping(path)
    variables: dict[str, str] = {}
    for name, source in raw.items():
        if not (isinstance(name, str) and _IDENTIFIER.fullmatch(name)):
            message = f"{path}: {name!r} is not a name CEL can read (letters, digits, _)"
            f.problem(path, "invalid-field", message)
        elif not isinstance(source, str) or not source.strip():
            f.problem(f"{path}.{name}", "invalid-field", f"{path}.{name} must be a CEL expression")
        else:
            variables[name] = source
    if variables and not f.strings(path.rsplit(".", 1)[0] + ".collect"):
        message = f"{path} needs collect: it is evaluated over the collected documents"
        f.problem(path, "invalid-field", message)
    return variables


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _fix(f: Fields, path: str) -> Fix | None:
    raw = f.get(path)
    if raw is None:
        return None
    if not isinstance(raw, dict) or not ({"merge", "remove"} & raw.keys()):
        f.problem(path, "invalid-fix", "fix must be a mapping with merge and/or remove")
        return None
    return Fix(
        merge=f.mapping(f"{path}.merge"), remove=f.strings(f"{path}.remove"), path=f.text(f"{path}.path")
    )


def parse_waiver(
    doc: yamlnodes.YamlDocument, *, file: str, problems: list[Problem], now: datetime, max_days: int
) -> Waiver | None:
    f = Fields(doc, file, problems)
    before = len(problems)
    name = f.text("metadata.name", required=True)
    policies = f.strings("spec.policies")
    if not policies:
        f.problem("spec.policies", "missing-field", "a waiver must name the policies it covers")
    scopes = tuple(_scopes(f))
    if not scopes:
        f.problem(
            "spec.match", "missing-field", "a waiver needs an explicit match (kinds, namespaces, names)"
        )
    expires = _expiry(f, now=now, max_days=max_days)
    reason = f.text("spec.reason", required=True)
    owner = f.text("spec.owner", required=True)
    approver = f.text("spec.approver", required=True)
    if len(problems) > before or expires is None:
        return None
    return Waiver(
        name=name,
        policies=policies,
        rules=f.strings("spec.rules"),
        scopes=scopes,
        reason=reason,
        owner=owner,
        approver=approver,
        requester=f.text("spec.requester"),
        expires=expires,
        source=SourceRef(file, doc.line_of("")),
    )


def _scopes(f: Fields) -> Iterator[WaiverScope]:
    raw = f.get("spec.match")
    entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    if raw is not None and not entries:
        f.problem("spec.match", "invalid-field", "spec.match must be a mapping or a list of mappings")
    for index, _ in enumerate(entries):
        base = f"spec.match[{index}]" if isinstance(raw, list) else "spec.match"
        scope = WaiverScope(
            kinds=f.strings(f"{base}.kinds"),
            namespaces=f.strings(f"{base}.namespaces"),
            names=f.strings(f"{base}.names"),
        )
        if not (scope.kinds or scope.namespaces or scope.names):
            f.problem(base, "invalid-field", "a waiver match must name kinds, namespaces or names")
            continue
        yield scope


def _expiry(f: Fields, *, now: datetime, max_days: int) -> datetime | None:
    raw = f.get("spec.expires")
    if raw is None:
        f.problem("spec.expires", "missing-expiry", "a waiver must expire (spec.expires)")
        return None
    expires = parse_timestamp(raw)
    if expires is None:
        f.problem("spec.expires", "invalid-field", f"spec.expires {raw!r} is not a date or timestamp")
        return None
    if expires - now > timedelta(days=max_days):
        f.problem(
            "spec.expires",
            "expiry-too-far",
            f"expires {expiry_text(expires)}, more than {max_days} days from now",
        )
        return None
    return expires


def parse_timestamp(raw: object) -> datetime | None:
    """A date (end of that day, UTC) or an ISO 8601 timestamp (naive means UTC)."""
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC) + timedelta(days=1)
    if isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            try:
                return parse_timestamp(date.fromisoformat(raw))
            except ValueError:
                return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def available_packs() -> list[str]:
    """Names of the built-in packs (folders under ``leitplanke/packs``)."""
    root = resources.files("leitplanke") / "packs"
    return sorted(
        entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(("_", "."))
    )


def pack_directory(name: str) -> Path:
    return Path(str(resources.files("leitplanke") / "packs" / name))


def load_packs(names: Iterable[str], *, now: datetime) -> Loaded:
    loaded = Loaded()
    known = available_packs()
    for name in names:
        if name not in known:
            loaded.problems.append(
                Problem(name, 0, "unknown-pack", f"no built-in pack {name!r}; known: {', '.join(known)}")
            )
            continue
        loaded.extend(_load_pack(name, now=now))
    return loaded.build_deferred()


_PACK_CACHE_FORMAT = "1"  # part of the key: a change to what loading builds bumps it


def _load_pack(name: str, *, now: datetime) -> Loaded:
    """One pack's policies, kept between runs beside the compiled CEL (``caching.cache_directory``).

    The cache file is named after the pack's files (path, size, modification time) and the
    modules defining policies, so an edited or reinstalled pack is read again. Only a pack that loads as
    plain policies is kept; a cache that cannot be read or written is skipped, never an error.
    """
    files = list(_policy_files(pack_directory(name)))
    folder = caching.cache_directory()
    store: Path | None = None
    if folder is not None:
        # the modules that define what is kept count too: a changed Policy class reads afresh
        code = [Path(__file__), Path(policies_module.__file__ or "")]
        stamp = [_PACK_CACHE_FORMAT, sys.version, *(_stamp(file) for file in [*code, *files])]
        digest = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:20]
        store = folder / f"pack-{name}-{digest}.pickle"
        try:
            cached = pickle.loads(store.read_bytes())
        except Exception:  # absent, or damaged: read the pack
            cached = None
        if isinstance(cached, Loaded):
            return cached
    loaded = Loaded()
    for file in files:
        loaded.extend(load_text(file.read_text(encoding="utf-8"), file=str(file), now=now, pack=name))
    plain = not (loaded.waivers or loaded.problems or loaded.other or loaded.foreign or loaded.deferred)
    if store is not None and plain and caching.keep(store, pickle.dumps(loaded, pickle.HIGHEST_PROTOCOL)):
        for stale in store.parent.glob(f"pack-{name}-*.pickle"):
            if stale != store:
                stale.unlink(missing_ok=True)
    return loaded


def _stamp(file: Path) -> str:
    try:
        info = file.stat()
    except OSError:
        return f"{file}:-"
    return f"{file}:{info.st_size}:{info.st_mtime_ns}"
