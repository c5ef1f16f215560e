"""The policy catalog's contents: policies grouped by pack, each with an anchor, and the facts both
formats show about a policy and its rules, in words.

Pure; called by ``markdowncatalogs`` and ``htmlcatalogs`` (through ``catalogs.render``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from leitplanke.core.documents import POD_KINDS
from leitplanke.core.policies import Policy, Rule
from leitplanke.reports import jsonreports

TITLE = "leitplanke policy catalog"
OWN = "own policies"  # the group of policies that come from files, not from a built-in pack
CODE_SPAN = re.compile(r"(`[^`\n]+`)")  # a backtick span in prose: kept as code by both formats
_UNSAFE_ANCHOR = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Entry:
    """One policy as the catalog shows it, with the anchor its links point to."""

    policy: Policy
    anchor: str


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    anchor: str
    entries: tuple[Entry, ...]


def build_groups(policies: Sequence[Policy]) -> list[Group]:
    """Policies by pack (packs by name, own policies last), each pack's policies by id."""
    packs = sorted({p.pack for p in policies}, key=lambda pack: (pack == "", pack))
    used: set[str] = set()
    groups = []
    for pack in packs:
        members = sorted((p for p in policies if p.pack == pack), key=lambda p: (p.id, p.source.file))
        entries = tuple(Entry(p, _unique(f"policy-{p.id}", used)) for p in members)
        groups.append(Group(pack or OWN, _unique(f"pack-{pack or 'own'}", used), entries))
    return groups


def _unique(wanted: str, used: set[str]) -> str:
    base = _UNSAFE_ANCHOR.sub("-", wanted)
    anchor, number = base, 1
    while anchor in used:
        number += 1
        anchor = f"{base}-{number}"
    used.add(anchor)
    return anchor


def summary(policies: Sequence[Policy], groups: Sequence[Group]) -> str:
    fixable = sum(1 for p in policies if any(rule.fix for rule in p.rules))
    packs = sum(1 for g in groups if g.name != OWN)
    own = len(policies) - sum(len(g.entries) for g in groups if g.name != OWN)
    text = f"{_count(len(policies), 'policy', 'policies')} in {_count(packs, 'pack', 'packs')}"
    if own:
        text += f" and {own} from policy files"
    return f"{text}; {fixable} with an automatic fix for at least one rule."


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def applies_to(policy: Policy) -> str:
    """Which documents the policy matches, in words (its CEL condition is shown apart)."""
    match = policy.match
    kinds = list(match.kinds)
    if set(POD_KINDS) <= set(kinds):
        rest = [kind for kind in kinds if kind not in POD_KINDS]
        kinds = ["every pod-bearing kind (" + ", ".join(POD_KINDS) + ")", *rest]
    text = ", ".join(kinds) if kinds else "every kind"
    if match.domains != ("kubernetes",):
        text += f" of {', '.join(match.domains)} configuration"
    if match.api_groups:
        text += f"; API groups {', '.join(g or 'core' for g in match.api_groups)}"
    if match.namespaces:
        text += f"; only in namespaces {', '.join(match.namespaces)}"
    if match.exclude_namespaces:
        text += f"; not in namespaces {', '.join(match.exclude_namespaces)}"
    if match.label_selector:
        text += f"; labels {json_text(match.label_selector)}"
    return text


def source(policy: Policy) -> str:
    """Where the policy is written: ``packs/<pack>/<file>`` for built-in ones, else the path as given."""
    if policy.pack:
        return f"packs/{policy.pack}/{PurePath(policy.source.file).name}"
    return policy.source.file or "–"


def rule_notes(rule: Rule) -> list[str]:
    """Plain-text facts about a rule beyond its expression: scope, action."""
    notes = []
    if rule.collect:
        scope = "the whole scan" if rule.collect_scope == "cluster" else "its namespace"
        local = [kind for kind in rule.collect if kind not in rule.collect_cluster]
        seen = f"the {', '.join(local)} documents of {scope}" if local else ""
        if rule.collect_cluster:
            everywhere = f"the {', '.join(rule.collect_cluster)} documents of the whole scan"
            seen = f"{seen} and {everywhere}" if seen else everywhere
        notes.append(f"Set-level: sees {seen}{', filtered by collectFilter' if rule.collect_filter else ''}.")
    if rule.verdict_on_fail == "warn":
        notes.append("Reports a warning, not a failure.")
    return notes


def fix_sentence(rule: Rule, *, code: Callable[[str], str], prose: Callable[[str], str]) -> str:
    """What the rule's fix does and whether it is safe; ``code`` marks up the merge, the keys and
    the path, ``prose`` the policy's own description of the fix.

    Without a path, the fix applies to the failing ``forEach`` item, or to the document.
    """
    fix = rule.fix
    if fix is None:
        return "Fix: none (see the remediation)."
    done = [f"merges {code(json_text(fix.merge))}"] if fix.merge else []
    done += [f"removes {code(', '.join(fix.remove))}"] if fix.remove else []
    where = "on each failing item" if rule.for_each else "on the document"
    safety = (
        f"Safe, applied by {code('leitplanke fix')}"
        if fix.safe
        else f"Unsafe, applied only by {code('leitplanke fix --unsafe-fixes')}"
    )
    what = f": {prose(fix.description)}" if fix.description else ""
    return f"Fix: {' and '.join(done)} {f'at {code(fix.path)}' if fix.path else where}. {safety}{what}."


def json_text(value: Any) -> str:
    return json.dumps(jsonreports.plain(value), ensure_ascii=False, default=str)


def params_text(policy: Policy) -> str:
    return json.dumps(jsonreports.plain(policy.params), indent=2, ensure_ascii=False, default=str)


def group_heading(group: Group) -> str:
    return "Own policies" if group.name == OWN else f"Pack {group.name}"
