"""The fast path's programs: every joinable per-document rule of a policy set in one CEL
program that says which rules pass and what the others found (a document costs one call into
the runtime, not one per rule), and per rule the programs of the same for a rule outside it.

``compiling`` builds them; ``evaluating`` reads their answers, which are lists of ints and
of per-item ``[verdict, message]`` lists, never text to parse. What the answers cannot say
(an error, a non-bool verdict) comes from the rule-by-rule reference in ``judging``, and the
differential test proves the two paths give the same results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from leitplanke.core import documents
from leitplanke.core.policies import Policy, Rule
from leitplanke.engine import cel, itemsources
from leitplanke.engine.cel import sourcetext

# the answer per rule: 1 "a plain rule passes", NOT_ALL "ask the reference" (a forEach that
# is no list), or a list of per-item entries (``findings``; a forEach's items all pass when
# every entry is PASSED); per policy with a condition [SKIPPED] when it does not apply
NOT_ALL = -1
SKIPPED = -2  # the policy's condition is false: no rule applies
PASSED, FAILED, UNDECIDED = 0, 1, 2  # an item's entry in ``findings``: 0, [1, message], [2]
PARAMS = re.compile(r"\bparams\b")


@dataclass(frozen=True, slots=True)
class Part:
    """A policy as the document program sees it: its id, its rules' texts."""

    id: str
    policy: Policy
    rules: tuple[tuple[str, str | None, str | None], ...]  # (validate, forEach, message) per rule


@dataclass(frozen=True, slots=True)
class Chunk:
    """A part of the document program: the slots from ``start`` up to ``end``. The runtime
    parses at most 100,000 characters nested at most 32 deep, so a large set takes more."""

    program: cel.Program
    start: int
    end: int


CHUNK_TEXT = 90_000  # characters of slots per chunk at most: the wrapping stays under the limit


def part(policy: Policy, rules: Sequence[Rule]) -> Part:
    """The part of ``policy`` whose per-document rules are ``rules``."""
    return Part(policy.id, policy, tuple((r.validate, r.for_each, r.message) for r in rules))


def document_programs(
    env: cel.Environment, parts: Sequence[Part]
) -> tuple[tuple[Chunk, ...], dict[str, int]]:
    """The document program, in chunks, for the per-document rules of every part that can
    join it, and each joined policy's slot.

    A chunk answers a list per slot: ``[]`` unless ``lpOn[i]`` (the policy matches the
    document), else ``[SKIPPED]`` if its condition is false, and else an answer per rule
    (``answer``): a failing rule's messages come with it, at no call of their own. A verdict
    or condition that is no bool, or an error, fails the chunk: each of its rules then says
    what it is on its own. Binds are eager (``cel.sourcetext``), so a value the original
    program would not have needed may fail it too. Parts whose text cannot be rewritten or
    compiled are not joined.
    """
    texts = [(part, text) for part in parts if (text := _slot(part)) is not None]
    total = sum(len(text) for _, text in texts)
    share = total / -(-total // CHUNK_TEXT) if total else 0  # as few chunks as fit, of like size
    groups: list[list[tuple[Part, str]]] = []
    size = share
    for part, text in texts:
        if size >= share or size + len(text) > CHUNK_TEXT:
            groups.append([])
            size = 0
        groups[-1].append((part, text))
        size += len(text)
    chunks: list[Chunk] = []
    slots: dict[str, int] = {}
    pending = groups[::-1]
    while pending:
        group = pending.pop()
        start = len(slots)
        listed = ", ".join(f"lpOn[{start + i}] ? {text} : []" for i, (_, text) in enumerate(group))
        program = env.compile(with_pod_selections(f"[{listed}]"))
        if isinstance(program, cel.Program):
            chunks.append(Chunk(program, start, start + len(group)))
            slots.update((part.id, start + i) for i, (part, _) in enumerate(group))
        elif len(group) > 1:  # a part the checker refuses (a verdict typed as a string, say)
            pending += [group[len(group) // 2 :], group[: len(group) // 2]]
    return tuple(chunks), slots


def _slot(part: Part) -> str | None:
    """The text of one policy's slot, or None if it cannot join."""
    if not part.rules:
        return None
    body = f"[{', '.join(answer(validate, message, for_each) for validate, for_each, message in part.rules)}]"
    condition = part.policy.match.condition
    if condition:  # a condition that is no bool fails the program: see ``answer``
        body = f"({embedded(condition)} ? {body} : [dyn({SKIPPED})])"
    masked = sourcetext.masked(body)
    if masked is None:
        return None
    rewritten = sourcetext.eager_binds(body, text=masked)
    if rewritten is not None and part.policy.params and PARAMS.search(masked):
        rewritten = f"[{params_value(part.policy)}].map(params, {rewritten})[0]"  # an eager bind
    return rewritten


def each_passes(for_each: str, validate: str) -> str:
    """CEL for the number of a forEach's items if every one passes, else ``NOT_ALL``."""
    return (
        f"[{embedded(for_each)}].map(lpItems, type(lpItems) == list"
        f" && lpItems.all(item, {embedded(validate)} == true) ? size(lpItems) : {NOT_ALL})[0]"
    )


def answer(validate: str, message: str | None, for_each: str | None) -> str:
    """CEL for a rule's answer in the document program: 1 if a plain rule passes, else its
    entry in a list; a forEach's entries (see ``findings``), ``NOT_ALL`` if it is no list."""
    # a verdict that is no bool fails the program, which then leaves each rule to say why
    if not for_each:
        return f"({embedded(validate)} ? dyn(1) : [{_failed(message)}])"
    entry = f"{embedded(validate)} ? dyn({PASSED}) : {_failed(message)}"
    items = embedded(for_each)
    joined = itemsources.item_sources(for_each)
    if joined is not None and len(joined) > 1:
        # lists of the document joined by `+`: a list or an error (a map has no `+`, map()
        # refuses a string), never something map() would read unlike the reference
        return f"{items}.map(item, {entry})"
    if joined is not None:  # one list of the document: read twice costs less than a bind
        return f"(type({items}) == list ? {items}.map(item, {entry}) : dyn({NOT_ALL}))"
    each = f"type(lpItems) != list ? dyn({NOT_ALL}) : lpItems.map(item, {entry})"
    return f"[{items}].map(lpItems, {each})[0]"


def findings(validate: str, message: str | None, for_each: str | None) -> str:
    """CEL for what a rule that does not simply pass found: per item (one for a plain rule)
    ``PASSED``, ``[FAILED, message]`` (null without a message program) or ``[UNDECIDED]``
    (an error, a non-bool verdict or message, a forEach that is no list: the reference says
    which). Its values are ints, strings and lists: nothing the runtime cannot hand over whole."""
    entry = _entry(validate, message)
    if not for_each:
        return entry
    each = f"lpItems.map(item, {entry})"
    return f"[{embedded(for_each)}].map(lpItems, type(lpItems) == list ? {each} : [[{UNDECIDED}]])[0]"


def _entry(validate: str, message: str | None) -> str:
    return (
        f"[{embedded(validate)}].map(lpHolds, lpHolds == true ? dyn({PASSED})"
        f" : lpHolds == false ? {_failed(message)} : [{UNDECIDED}])[0]"
    )


def _failed(message: str | None) -> str:
    """CEL for a failing item's entry: a message that is no string is for the reference."""
    if not message:
        return f"[{FAILED}, null]"
    return f"[{embedded(message)}].map(lpM, type(lpM) == string ? [{FAILED}, lpM] : [{UNDECIDED}])[0]"


def items_count(for_each: str) -> str:
    """CEL for the number of a forEach's items, -1 if it is not a list."""
    return f"[{embedded(for_each)}].map(lpItems, type(lpItems) == list ? size(lpItems) : -1)[0]"


def embedded(source: str) -> str:
    """``source`` as an operand: in parentheses, a newline ending a comment on its last line."""
    return f"({source}\n)"


def params_value(policy: Policy) -> str:
    """What ``params`` is bound to in the policy's programs: a literal if CEL has one for it."""
    return cel.literal(dict(policy.params)) or f"allParams[{json.dumps(policy.id)}]"


def pod_selections(subject: str, shape: str, *, spec: str, meta: str) -> tuple[str, str]:
    """CEL for the pod spec and the pod metadata of ``subject`` when ``shape`` is a pod shape
    (``subjects.Subject.pod_shape``), else for ``spec`` and ``meta``.

    A variable is converted to CEL whole when first read: selecting the pod spec from the
    converted object spares converting it a second time.
    """
    for index, path in reversed(list(enumerate(documents.POD_PATHS, start=1))):
        spec = f"{shape} == {index} ? {'.'.join((subject, *path))} : ({spec})"
        meta = f"{shape} == {index} ? {'.'.join((subject, *path[:-1]))}.?metadata.orValue({{}}) : ({meta})"
    return spec, meta


def with_pod_selections(source: str) -> str:
    """``source`` with podSpec and podMeta selected from ``object`` where the document's shape
    allows (``lpPod``): converted once, with it. Eager binds: no stale slot to read."""
    spec, meta = pod_selections("object", "lpPod", spec="podSpec", meta="podMeta")
    return f"[{spec}].map(podSpec, [{meta}].map(podMeta, {source})[0])[0]"
