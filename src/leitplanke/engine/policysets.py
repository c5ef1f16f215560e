"""Policy sets: policies compiled once, immutable, shared by threads and forked workers.

Built by ``leitplanke.engine.compile``; every caller (CLI, ``test``, ``fix``, the service, next
admission, the agent and the portal) evaluates through one ``PolicySet``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from leitplanke.core.policies import BrokenPolicy, Policy
from leitplanke.core.problems import Problem
from leitplanke.engine import compiling


@dataclass(frozen=True, slots=True)
class CompileOptions:
    """How to compile: the policies of other engines, those loading found broken, and where
    compiled programs are kept."""

    # Kyverno, ValidatingAdmissionPolicy and Gatekeeper policies, built by their front-ends
    # (a broken one as an error-only entry, see ``brokenpolicies``)
    foreign: tuple[compiling.CompiledPolicy, ...] = ()
    # policies that could not be read or converted (``loading.Loaded.broken``): reported by the set
    broken: tuple[BrokenPolicy, ...] = ()
    cache: Path | None = None  # a folder for compiled CEL programs; None keeps nothing


DEFAULTS = CompileOptions()  # frozen: a shared default changes nothing


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Compiled policies and what compiling them found wrong (``problems``, each with a code,
    file and line): a policy with a problem does not run, the others do.

    ``broken`` names every policy that does not run (from loading and from compiling) and why.
    Where it is known what such a policy applies to, the set holds an error-only entry for it:
    ``evaluate`` gives those documents an ``error`` result (code ``policy-broken``) per rule.

    Nothing in it changes after ``compile``; evaluation keeps its state in its own frames.
    """

    compiled: compiling.CompiledSet
    problems: tuple[Problem, ...]
    broken: tuple[BrokenPolicy, ...]
    # (policy id, rule name) of set-level rules (``collect``): only ``scan`` has their documents
    set_level_rules: frozenset[tuple[str, str]]

    @property
    def policies(self) -> Mapping[str, Policy]:
        """The compiled policies by id, in evaluation order."""
        return MappingProxyType(compiling.policy_map(self.compiled))


def compile_set(policies: Sequence[Policy], *, options: CompileOptions) -> PolicySet:
    environment = None
    if options.cache is not None:
        environment = compiling.build_environment(cache=options.cache)
    compiled, problems = compiling.compile_policies(
        policies, environment=environment, foreign=options.foreign
    )
    broken = list(compiled.broken)
    broken.extend(b for b in options.broken if b not in broken)
    broken.sort(key=lambda b: (b.file, b.line, b.name))
    return PolicySet(
        compiled=compiled,
        problems=tuple(problems),
        broken=tuple(broken),
        set_level_rules=frozenset(
            (policy.id, rule.rule.name)
            for policy in compiled.policies
            for rule in policy.rules
            if rule.is_set_level
        ),
    )
