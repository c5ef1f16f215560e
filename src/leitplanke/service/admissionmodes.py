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
FAILURE_POLICIES = ("open", "closed")
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
    failures = choice_map("failurePolicy", FAILURE_POLICIES)
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
        default_failure=failures.get("default", "open"),
        mutating=frozenset(strings(raw, "mutate", "mutate", ()) + settings.get("mutate", ())),
        unsafe_fixes=frozenset(
            strings(raw, "unsafeFixes", "unsafeFixes", ()) + settings.get("unsafeFixes", ())
        ),
    )
    return config, problems


ENVIRONMENT_KEYS = ("mode", "mutate", "unsafeFixes")


def _environment_settings(raw: dict[str, Any], bad: Callable[[str, str], None]) -> dict[str, tuple[str, ...]]:
    """Turn the long form of an environment, ``prod: {mode: enforce, mutate: true}``, into its
    mode (written back into ``raw``, a copy) and the environments per flag: ``{"mutate": ("prod",)}``."""
    flagged: dict[str, tuple[str, ...]] = {}
    environments = raw.get("environments")
    if not isinstance(environments, dict):
        return flagged
    short: dict[str, Any] = {}
    for name, value in environments.items():
        if not isinstance(value, dict):
            short[name] = value
            continue
        for key in sorted(set(value) - set(ENVIRONMENT_KEYS)):
            bad(f"environments.{name}.{key}", f"unknown key {key!r}: use {', '.join(ENVIRONMENT_KEYS)}")
        short[name] = value.get("mode", "audit")
        for flag in ENVIRONMENT_KEYS[1:]:
            chosen = value.get(flag, False)
            if not isinstance(chosen, bool):
                bad(f"environments.{name}.{flag}", f"{flag} must be true or false, not {chosen!r}")
            elif chosen:
                flagged[flag] = (*flagged.get(flag, ()), str(name))
    raw["environments"] = short
    return flagged


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
