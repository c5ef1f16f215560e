"""Loading policy-side files: native policies and waivers, from files, directories and packs.

Reads YAML, hands native documents to ``parsing`` and other engines' to ``compat``, and
collects every authoring problem with file, line and field. Called by the CLI and by
``testing``; compilation happens later in ``compiling``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import yaml

from leitplanke.core.documents import Document
from leitplanke.core.policies import BrokenPolicy, Policy
from leitplanke.core.problems import Problem
from leitplanke.core.results import Result
from leitplanke.core.waivers import Waiver
from leitplanke.engine import brokenpolicies, compiling, contexts, evaluating, parsing, pssversions, yamlnodes
from leitplanke.engine.compiling import CompiledPolicy

API_VERSION = "leitplanke.dev/v1"
POLICY_SUFFIXES = (".yaml", ".yml")
DEFAULT_MAX_WAIVER_DAYS = parsing.DEFAULT_MAX_WAIVER_DAYS


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
    # policies (and policy files) that could not be read or converted: each with its problems,
    # which are in ``problems`` too; the other policies run
    broken: list[BrokenPolicy] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.policies.extend(other.policies)
        self.waivers.extend(other.waivers)
        self.problems.extend(other.problems)
        self.broken.extend(other.broken)
        self.other.extend(other.other)
        self.foreign.extend(other.foreign)
        self.deferred.extend(other.deferred)

    def build_deferred(self) -> Loaded:
        """Pair what ``deferred`` holds into foreign policies (``other`` gives params and inventory)."""
        if not self.deferred:
            return self
        # imported on use, for start-up speed: a scan of native policies needs no other engine
        from leitplanke.engine.compat import vap
        from leitplanke.engine.compat.gatekeeper import constrainttemplates

        pending, self.deferred = self.deferred, []
        kept = [(f, d) for f, d in self.other if isinstance(d.data, dict)]
        self.foreign.extend(
            constrainttemplates.build_policies(
                [(f, d) for f, d in pending if not vap.is_admission_policy(d.data)],
                inventory=[d.data for _, d in kept],
                problems=self.problems,
                broken=self.broken,
            )
        )
        self.foreign.extend(
            vap.build_policies(
                [(f, d) for f, d in pending if vap.is_admission_policy(d.data)],
                others=kept,
                problems=self.problems,
                broken=self.broken,
            )
        )
        return self


def load_paths(
    paths: Sequence[str], *, now: datetime, max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS
) -> Loaded:
    """Load every policy and waiver file under ``paths`` (files or directories, recursive)."""
    loaded = Loaded()
    pss = PssPacks()
    for path in paths:
        target = Path(path)
        if not target.exists():
            loaded.problems.append(Problem(path, 0, "not-found", "no such file or directory"))
            continue
        for file in _policy_files(target):
            loaded.extend(load_file(file, now=now, max_waiver_days=max_waiver_days, pss=pss))
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


def load_file(
    path: Path, *, now: datetime, max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS, pss: PssPacks | None = None
) -> Loaded:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Loaded(problems=[Problem(str(path), 0, "unreadable", str(exc))])
    return load_text(text, file=str(path), now=now, max_waiver_days=max_waiver_days, pss=pss)


def load_text(
    text: str,
    *,
    file: str,
    now: datetime,
    max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS,
    pack: str = "",
    pss: PssPacks | None = None,
) -> Loaded:
    """``pss``: the PSS packs Kyverno podSecurity rules check against, shared by the files
    of one load (compiled on first use); a new one by default."""
    loaded = Loaded()
    try:
        docs = list(yamlnodes.read_documents(text))
    except yaml.YAMLError as exc:
        line, column = yamlnodes.error_position(exc)
        reason = getattr(exc, "problem", None) or str(exc)
        problem = Problem(file, line, "yaml-syntax", str(reason), column=column)
        loaded.problems.append(problem)
        # what the file held is unknown: it is reported as a policy file that could not run
        loaded.broken.append(
            brokenpolicies.unmatched(name="", kind="", file=file, line=line, problems=[problem])
        )
        return loaded
    for doc in docs:
        if not isinstance(doc.data, dict):
            problem = Problem(file, doc.line_of(""), "not-a-mapping", "a policy document must be a mapping")
            loaded.problems.append(problem)
            loaded.broken.append(
                brokenpolicies.unmatched(name="", kind="", file=file, line=problem.line, problems=[problem])
            )
            continue
        kind = doc.data.get("kind")
        api_version = str(doc.data.get("apiVersion", ""))
        if api_version == API_VERSION and kind == "Policy":
            mark = len(loaded.problems)
            policy = parsing.parse_policy(doc, file=file, problems=loaded.problems, pack=pack)
            errors = brokenpolicies.errors_of(loaded.problems[mark:])
            if errors:
                loaded.broken.append(_unreadable(doc, file=file, problems=errors))
            elif policy is not None:
                loaded.policies.append(policy)
        elif api_version == API_VERSION and kind == "Waiver":
            waiver = parsing.parse_waiver(
                doc, file=file, problems=loaded.problems, now=now, max_days=max_waiver_days
            )
            if waiver is not None:
                loaded.waivers.append(waiver)
        else:
            _load_other(doc, file=file, loaded=loaded, pss=pss or PssPacks())
    return loaded


def _unreadable(doc: yamlnodes.YamlDocument, *, file: str, problems: Sequence[Problem]) -> BrokenPolicy:
    """A policy document whose problems keep it from being built: reported under its name."""
    name = (doc.data.get("metadata") or {}).get("name", "") if isinstance(doc.data, dict) else ""
    kind = str(doc.data.get("kind", "")) if isinstance(doc.data, dict) else ""
    return brokenpolicies.unmatched(
        name=str(name), kind=kind, file=file, line=doc.line_of(""), problems=problems
    )


def _built(
    doc: yamlnodes.YamlDocument,
    built: CompiledPolicy | None,
    *,
    file: str,
    loaded: Loaded,
    mark: int,
) -> None:
    """A policy of another engine into ``loaded``: as it was built, or as an error-only entry
    when building it met errors (``mark``: where its problems begin)."""
    errors = brokenpolicies.errors_of(loaded.problems[mark:])
    if not errors:
        if built is not None:
            loaded.foreign.append(built)
        return
    if built is None:
        loaded.broken.append(_unreadable(doc, file=file, problems=errors))
        return
    broken, entry = brokenpolicies.foreign_entry(built, kind=str(doc.data.get("kind", "")), problems=errors)
    loaded.broken.append(broken)
    loaded.foreign.append(entry)


def _load_other(doc: yamlnodes.YamlDocument, *, file: str, loaded: Loaded, pss: PssPacks) -> None:
    """A document of another engine (Kyverno, Gatekeeper, admission policies) or an object a
    policy may read."""
    # imported on use, for start-up speed (jmespath, regopy and their adapters): a scan of
    # native policies needs none of them
    from leitplanke.engine.compat import vap
    from leitplanke.engine.compat.gatekeeper import constrainttemplates
    from leitplanke.engine.compat.kyverno import clusterpolicies, podsecurity, validatingpolicies

    mark = len(loaded.problems)
    if clusterpolicies.is_kyverno(doc.data):
        pod_security = podsecurity.PodSecurity(evaluate=pss.evaluate)
        built = clusterpolicies.build_policy(
            doc, file=file, problems=loaded.problems, pod_security=pod_security
        )
        _built(doc, built, file=file, loaded=loaded, mark=mark)
    elif (
        constrainttemplates.is_template(doc.data)
        or constrainttemplates.is_constraint(doc.data)
        or vap.is_admission_policy(doc.data)
    ):
        loaded.deferred.append((file, doc))
    elif validatingpolicies.is_validating_policy(doc.data):
        built = validatingpolicies.build_policy(doc, file=file, problems=loaded.problems)
        _built(doc, built, file=file, loaded=loaded, mark=mark)
    else:
        loaded.other.append((file, doc))


def available_packs() -> list[str]:
    """Names of the built-in packs (folders under ``leitplanke/packs``)."""
    root = resources.files("leitplanke") / "packs"
    return sorted(
        entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(("_", "."))
    )


# Which built-in packs run when nothing chooses: the one place that choice is made, and it
# is a choice: every pack is named in exactly one of the two (a test holds it).
# - security and reliability of what is deployed: the Pod Security Standards, hardening,
#   reliability; and the packs of other configuration (proxies, mesh, message buses, Linux
#   hosts, Cluster API), which match only their own config types, so a manifest set that
#   has none of them gets no result from them, and one that has them is checked unasked
DEFAULT_PACKS = (
    "pss-baseline",
    "pss-restricted",
    "hardening",
    "reliability",
    "capi",
    "linux",
    "mesh",
    "messaging",
    "proxy",
)
# - opt-in (--pack, or `packs:` in leitplanke.yaml): what assumes an organisation's own
#   choices, such as observability's Prometheus Operator monitors and alert rules
OPT_IN_PACKS = ("observability",)


def default_packs() -> list[str]:
    """The packs a scan runs when neither options nor the config file choose any
    (``DEFAULT_PACKS``, in the order of ``available_packs``)."""
    return [name for name in available_packs() if name in DEFAULT_PACKS]


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


class PssPacks:
    """The pss-baseline and pss-restricted packs, compiled on first use, for Kyverno's
    ``validate.podSecurity`` (``compat.kyverno.podsecurity`` maps its controls onto theirs)."""

    __slots__ = ("_compiled",)

    NAMES = ("pss-baseline", "pss-restricted")

    def __init__(self) -> None:
        self._compiled: compiling.CompiledSet | None = None

    def evaluate(self, document: Document, version: str = pssversions.LATEST) -> list[Result]:
        """The packs' results for ``document`` judged by ``version`` of the standard (``latest``
        or ``v1.N``; a value that does not parse means ``latest``, as Pod Security admission reads it)."""
        if self._compiled is None:
            loaded = load_packs(self.NAMES, now=datetime(2000, 1, 1, tzinfo=UTC))
            self._compiled, _ = compiling.compile_policies(loaded.policies)
        if pssversions.parse_version(version) is None:
            version = pssversions.LATEST
        context = contexts.Context(pss_version=version)
        return evaluating.evaluate_document(self._compiled, document, context=context).results


def _load_pack(name: str, *, now: datetime) -> Loaded:
    """One pack's policies, read afresh every run: parsing every pack takes some 40 ms, and a
    kept copy (pickled, as once) would be code that anyone who can write the cache may run."""
    loaded = Loaded()
    for file in _policy_files(pack_directory(name)):
        loaded.extend(load_text(file.read_text(encoding="utf-8"), file=str(file), now=now, pack=name))
    return loaded
