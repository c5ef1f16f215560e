"""The admission webhook's modes: the config's ``admission:`` section parsed, the environment
and mode of a request, and the engine's results turned into an admission decision.

Pure: ``service/admission`` (the HTTP app) calls it per request; no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.problems import Problem
from leitplanke.core.results import Result, Verdict
from leitplanke.sources.admission import Review

MODES = ("audit", "warn", "enforce")
FAILURE_POLICIES = ("open", "closed", "ignore", "fail")
# Kubernetes' own words for the failure policies (``failurePolicy: Fail | Ignore``) mean the same
FAILURE_ALIASES = {"fail": "closed", "ignore": "open", "closed": "closed", "open": "open"}
DEFAULT_BUDGET_MS = 1000.0
APP_LABELS = ("app.kubernetes.io/part-of", "app.kubernetes.io/name", "app")
DEFAULT_LABEL = "leitplanke.dev/environment"
# the API server truncates each warning beyond 256 characters and drops warnings beyond 4096 in all
# (Kubernetes docs, "Response" of dynamic admission control); the denial message is kept as short
WARNING_CHARS, WARNINGS_TOTAL, MESSAGE_CHARS = 256, 4096, 4096
LINE_CHARS = 1024  # one problem of a denial: a huge message never hides the others


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    environments: Mapping[str, str] = field(default_factory=dict)  # environment -> mode
    default_mode: str = "audit"
    namespace_label: str = DEFAULT_LABEL
    namespaces: Mapping[str, str] = field(default_factory=dict)  # namespace -> environment
    exempt_namespaces: tuple[str, ...] = ("kube-system",)
    exempt_users: tuple[str, ...] = ()
    exempt_groups: tuple[str, ...] = ()
    failure_policies: Mapping[str, str] = field(default_factory=dict)  # environment -> open | closed
    default_failure: str = "open"
    mutating: frozenset[str] = frozenset()  # environments whose objects /mutate fixes
    unsafe_fixes: frozenset[str] = frozenset()  # ... with the fixes that change what a workload does
    budgets: Mapping[str, float] = field(default_factory=dict)  # environment -> seconds of evaluation
    default_budget: float = DEFAULT_BUDGET_MS / 1000
    app_labels: tuple[str, ...] = APP_LABELS  # the object's labels that name its app, first found wins
    apps: Mapping[str, str] = field(default_factory=dict)  # namespace -> app, when no label names one

    def environment_of(self, review: Review) -> str:
        """The namespace's environment by the config's mapping; a Namespace object itself by its
        label. The API server sends no Namespace with a request, so no label is read otherwise."""
        mapped = self.namespaces.get(review.namespace)
        if mapped:
            return mapped
        if review.document.kind == "Namespace":
            label = review.document.labels.get(self.namespace_label)
            if isinstance(label, str):
                return label
            return self.namespaces.get(review.document.name, "")
        return ""

    def mode_of(self, environment: str) -> str:
        return self.environments.get(environment, self.default_mode)

    def failure_of(self, environment: str) -> str:
        return self.failure_policies.get(environment, self.default_failure)

    def budget_of(self, environment: str) -> float:
        return self.budgets.get(environment, self.default_budget)

    def app_of(self, review: Review) -> str:
        """The owning app: the first of ``app_labels`` on the object, else the namespace's app."""
        labels = review.document.labels
        for label in self.app_labels:
            value = labels.get(label)
            if isinstance(value, str) and value:
                return value
        return self.apps.get(review.namespace, "")

    def mutates(self, environment: str) -> bool:
        return environment in self.mutating

    def allows_unsafe_fixes(self, environment: str) -> bool:
        return environment in self.unsafe_fixes

    def exempts(self, review: Review) -> bool:
        user = review.user_info
        groups = user.get("groups")
        return (
            review.namespace in self.exempt_namespaces
            or user.get("username") in self.exempt_users
            or (isinstance(groups, list) and any(g in self.exempt_groups for g in groups))
        )


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    outcome: str  # allow | warn | deny | exempt | skip
    message: str = ""
    warnings: tuple[str, ...] = ()


def parse_admission_config(raw: Mapping[str, Any], *, file: str) -> tuple[AdmissionConfig, list[Problem]]:
    """The ``admission:`` section, with a problem (code, field) per bad entry. An environment is a
    mode (``prod: enforce``) or a mapping ``{mode, mutate, unsafeFixes}``; ``mutate`` and
    ``unsafeFixes`` also take a list of environments."""
    problems: list[Problem] = []
    raw = dict(raw)  # the long form of environments is rewritten to the short one below

    def bad(path: str, message: str) -> None:
        problems.append(Problem(file, 0, "invalid-admission", message, field=f"admission.{path}"))

    def choice_map(key: str, allowed: Sequence[str]) -> dict[str, str]:
        value = raw.get(key) or {}
        if not isinstance(value, dict):
            bad(key, f"{key} must be a mapping")
            return {}
        chosen = {str(k): str(v) for k, v in value.items()}
        for name, picked in chosen.items():
            if picked not in allowed:
                bad(f"{key}.{name}", f"{picked!r} is not one of {', '.join(allowed)}")
        return {k: v for k, v in chosen.items() if v in allowed}

    def strings(
        container: Mapping[str, Any], key: str, path: str, default: tuple[str, ...]
    ) -> tuple[str, ...]:
        value = container.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            bad(path, f"{path} must be a list of strings")
            return default
        return tuple(value)

    settings = _environment_settings(raw, bad)
    environments = choice_map("environments", MODES)
    failures = {k: FAILURE_ALIASES[v] for k, v in choice_map("failurePolicy", FAILURE_POLICIES).items()}
    failures.update(settings.failures)
    budgets = _budgets(raw, settings.budgets, bad)
    default_mode = str(raw.get("default", "audit"))
    if default_mode not in MODES:
        bad("default", f"{default_mode!r} is not one of {', '.join(MODES)}")
        default_mode = "audit"
    namespaces = raw.get("namespaces") or {}
    if not isinstance(namespaces, dict):
        bad("namespaces", "namespaces must map namespace names to environments")
        namespaces = {}
    exempt = raw.get("exempt") or {}
    if not isinstance(exempt, dict):
        bad("exempt", "exempt must be a mapping of namespaces, users and groups")
        exempt = {}
    config = AdmissionConfig(
        environments=environments,
        default_mode=default_mode,
        namespace_label=str(raw.get("namespaceLabel", DEFAULT_LABEL)),
        namespaces={str(k): str(v) for k, v in namespaces.items()},
        exempt_namespaces=strings(exempt, "namespaces", "exempt.namespaces", ("kube-system",)),
        exempt_users=strings(exempt, "users", "exempt.users", ()),
        exempt_groups=strings(exempt, "groups", "exempt.groups", ()),
        failure_policies={k: v for k, v in failures.items() if k != "default"},
        budgets={k: v for k, v in budgets.items() if k != "default"},
        default_budget=budgets.get("default", DEFAULT_BUDGET_MS / 1000),
        app_labels=strings(raw, "appLabels", "appLabels", APP_LABELS),
        apps=_string_map(raw, "apps", bad),
        default_failure=failures.get("default", "open"),
        mutating=frozenset(strings(raw, "mutate", "mutate", ()) + settings.flags.get("mutate", ())),
        unsafe_fixes=frozenset(
            strings(raw, "unsafeFixes", "unsafeFixes", ()) + settings.flags.get("unsafeFixes", ())
        ),
    )
    return config, problems


ENVIRONMENT_KEYS = ("mode", "mutate", "unsafeFixes", "failurePolicy", "budgetMs")


@dataclass(slots=True)
class _Settings:
    """What the long form of the environments says beyond their modes."""

    flags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "mutate": ("prod",)
    failures: dict[str, str] = field(default_factory=dict)  # environment -> open | closed
    budgets: dict[str, Any] = field(default_factory=dict)  # environment -> budgetMs as written


def _environment_settings(raw: dict[str, Any], bad: Callable[[str, str], None]) -> _Settings:
    """Turn the long form of an environment, ``prod: {mode: enforce, mutate: true, failurePolicy: fail,
    budgetMs: 200}``, into its mode (written back into ``raw``, a copy) and the rest."""
    settings = _Settings()
    environments = raw.get("environments")
    if not isinstance(environments, dict):
        return settings
    short: dict[str, Any] = {}
    for name, value in environments.items():
        if not isinstance(value, dict):
            short[name] = value
            continue
        for key in sorted(set(value) - set(ENVIRONMENT_KEYS)):
            bad(f"environments.{name}.{key}", f"unknown key {key!r}: use {', '.join(ENVIRONMENT_KEYS)}")
        short[name] = value.get("mode", "audit")
        for flag in ("mutate", "unsafeFixes"):
            chosen = value.get(flag, False)
            if not isinstance(chosen, bool):
                bad(f"environments.{name}.{flag}", f"{flag} must be true or false, not {chosen!r}")
            elif chosen:
                settings.flags[flag] = (*settings.flags.get(flag, ()), str(name))
        failure = value.get("failurePolicy")
        if failure is not None:
            if str(failure).lower() in FAILURE_ALIASES:
                settings.failures[str(name)] = FAILURE_ALIASES[str(failure).lower()]
            else:
                bad(f"environments.{name}.failurePolicy", f"{failure!r} is not one of fail, ignore")
        if "budgetMs" in value:
            settings.budgets[str(name)] = value["budgetMs"]
    raw["environments"] = short
    return settings


def _budgets(
    raw: Mapping[str, Any], written: Mapping[str, Any], bad: Callable[[str, str], None]
) -> dict[str, float]:
    """Seconds per environment (``default`` for the rest) from ``budgetMs``: a number or a mapping."""
    top = raw.get("budgetMs")
    chosen: dict[str, tuple[str, Any]] = {}
    if isinstance(top, dict):
        chosen.update({str(k): (f"budgetMs.{k}", v) for k, v in top.items()})
    elif top is not None:
        chosen["default"] = ("budgetMs", top)
    chosen.update({k: (f"environments.{k}.budgetMs", v) for k, v in written.items()})
    budgets: dict[str, float] = {}
    for name, (path, value) in chosen.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            bad(path, f"budgetMs must be a number of milliseconds above 0, not {value!r}")
            continue
        budgets[name] = float(value) / 1000
    return budgets


def _string_map(raw: Mapping[str, Any], key: str, bad: Callable[[str, str], None]) -> dict[str, str]:
    value = raw.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        bad(key, f"{key} must map names to names")
        return {}
    return {str(k): v for k, v in value.items()}


def decide(results: Sequence[Result], *, mode: str, failure: str) -> Decision:
    """Results of one object → the answer: ``enforce`` denies failures, ``warn`` returns them as
    warnings, ``audit`` allows; a policy's ``action: warn`` (verdict warn) never denies; an error
    denies under the ``closed`` failure policy and is a warning under ``open``, never a pass."""
    failing = [r for r in results if r.verdict is Verdict.FAIL]
    warned = [r for r in results if r.verdict is Verdict.WARN]
    errors = [r for r in results if r.verdict is Verdict.ERROR]
    denying = (failing if mode == "enforce" else []) + (errors if failure == "closed" else [])
    warning = (failing if mode == "warn" else []) + (warned if mode != "audit" else [])
    warning += [] if failure == "closed" else errors
    warnings = render_warnings([describe(r) for r in warning])
    if denying:
        return Decision(False, "deny", render_message([describe(r) for r in denying]), warnings)
    return Decision(True, "warn" if warnings else "allow", "", warnings)


def describe(result: Result) -> str:
    """``policy/rule: message (at spec.containers[0].image)``; an error says it is one."""
    at = f" (at {result.location.path})" if result.location.path else ""
    if result.verdict is Verdict.ERROR:
        code = f" [{result.code}]" if result.code else ""
        return f"{result.policy}/{result.rule} could not be evaluated{code}: {result.message}{at}"
    return f"{result.policy}/{result.rule}: {result.message}{at}"


def render_warnings(lines: Sequence[str]) -> tuple[str, ...]:
    """One warning per line, each at most 256 characters, all within 4096; what does not fit is
    counted in a last ``… and N more``."""
    kept: list[str] = []
    total = 0
    for index, line in enumerate(lines):
        short = _shortened(line, WARNING_CHARS)
        rest = len(lines) - index - 1
        reserve = len(f"… and {rest} more") if rest else 0
        if total + len(short) + reserve > WARNINGS_TOTAL:
            kept.append(f"… and {len(lines) - index} more")
            break
        kept.append(short)
        total += len(short)
    return tuple(kept)


def render_message(lines: Sequence[str]) -> str:
    """``leitplanke denied: N failing: a; b`` within 4096 characters, ``… and N more`` at the end."""
    head = f"leitplanke: {len(lines)} {'problem' if len(lines) == 1 else 'problems'}: "
    text = head
    for index, whole in enumerate(lines):
        line = _shortened(whole, LINE_CHARS)
        part = line if index == 0 else f"; {line}"
        rest = len(lines) - index
        tail = f"; … and {rest} more"
        if len(text) + len(part) + len(tail) > MESSAGE_CHARS and index < len(lines) - 1:
            return text + tail
        if len(text) + len(part) > MESSAGE_CHARS:
            return text + tail
        text += part
    return text


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
