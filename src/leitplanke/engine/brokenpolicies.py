"""Broken policies in a policy set: error-only entries, so that a policy that could not be read,
converted or compiled gives an ``error`` result where it applies, never a silent pass.

``loading`` (other engines' policies) and ``compiling`` (native ones) build the entries;
``evaluating`` runs them as it runs any foreign policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from leitplanke.core.documents import Document
from leitplanke.core.policies import BrokenPolicy, Policy
from leitplanke.core.problems import Level, Problem
from leitplanke.engine import cel, compiledpolicies, contexts

POLICY_BROKEN = "policy-broken"  # the code of the error result of a policy that could not run
ALL_RULES = "*"  # the rule name of such a result when the policy's rules are not known


@dataclass(frozen=True, slots=True)
class BrokenRules:
    """Stands in for the rules of a broken policy: an ``error`` outcome per rule wherever the
    policy applies. ``delegate`` (what a compatibility engine could still build) says where it
    applies and which rules speak; without it the policy's own ``match`` decides."""

    broken: BrokenPolicy
    rules: tuple[str, ...]
    delegate: compiledpolicies.ForeignRules | None = None

    def evaluate(
        self, document: Document, *, environment: cel.Environment, context: contexts.Context
    ) -> list[compiledpolicies.ForeignOutcome]:
        names = self.rules
        if self.delegate is not None:
            found = self.delegate.evaluate(document, environment=environment, context=context)
            names = tuple(dict.fromkeys(outcome.rule for outcome in found))
        message = f"the policy could not run: {self.broken.reason}"
        return [compiledpolicies.ForeignOutcome(rule, "error", message, code=POLICY_BROKEN) for rule in names]


def errors_of(problems: Sequence[Problem]) -> tuple[Problem, ...]:
    return tuple(sorted(p for p in problems if p.level is Level.ERROR))


def native_entry(
    policy: Policy, problems: Sequence[Problem]
) -> tuple[BrokenPolicy, compiledpolicies.CompiledPolicy]:
    """A native policy that did not compile: matched by its kinds, namespaces and selector (its
    condition may be what is broken, so it is left out: an error where it might apply)."""
    broken = BrokenPolicy(
        policy.id, "Policy", policy.source.file, policy.source.line, errors_of(problems), policy
    )
    rules = tuple(rule.name for rule in policy.rules if not rule.collect) or (ALL_RULES,)
    matched = replace(policy, match=replace(policy.match, condition=""), rules=())
    return broken, compiledpolicies.CompiledPolicy(
        policy=matched, condition=None, rules=(), foreign=BrokenRules(broken, rules)
    )


def foreign_entry(
    built: compiledpolicies.CompiledPolicy, *, kind: str, problems: Sequence[Problem]
) -> tuple[BrokenPolicy, compiledpolicies.CompiledPolicy]:
    """A policy of another engine that was built in part: it applies where what was built
    applies, and every rule that speaks there gives an error instead."""
    policy = built.policy
    broken = BrokenPolicy(
        policy.id, kind, policy.source.file, policy.source.line, errors_of(problems), policy
    )
    rules = BrokenRules(broken, (ALL_RULES,), delegate=built.foreign)
    return broken, replace(built, foreign=rules)


def unmatched(*, name: str, kind: str, file: str, line: int, problems: Sequence[Problem]) -> BrokenPolicy:
    """A policy of which too little could be read to say what it applies to: reported, not run."""
    return BrokenPolicy(name, kind, file, line, errors_of(problems))
