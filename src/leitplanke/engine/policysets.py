"""Policy sets: policies compiled once, immutable, shared by threads and forked workers.

Built by ``leitplanke.engine.compile``; every caller (CLI, ``test``, ``fix``, the service, next
admission, the agent and the portal) evaluates through one ``PolicySet``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from leitplanke.core.policies import Policy
from leitplanke.core.problems import Problem
from leitplanke.engine import compiling


@dataclass(frozen=True, slots=True)
class CompileOptions:
    """How to compile: the policies of other engines, and where compiled programs are kept."""

    # Kyverno, ValidatingAdmissionPolicy and Gatekeeper policies, built by their front-ends
    foreign: tuple[compiling.CompiledPolicy, ...] = ()
    cache: Path | None = None  # a folder for compiled CEL programs; None keeps nothing


DEFAULTS = CompileOptions()  # frozen: a shared default changes nothing


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Compiled policies and what compiling them found wrong (``problems``, each with a code,
    file and line): a policy with a problem is left out, the others are in.

    Nothing in it changes after ``compile``; evaluation keeps its state in its own frames.
    """

    compiled: compiling.CompiledSet
    problems: tuple[Problem, ...]
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
    return PolicySet(
        compiled=compiled,
        problems=tuple(problems),
        set_level_rules=frozenset(
            (policy.id, rule.rule.name)
            for policy in compiled.policies
            for rule in policy.rules
            if rule.is_set_level
        ),
    )
