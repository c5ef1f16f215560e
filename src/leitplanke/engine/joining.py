"""The fast path's programs: every joinable per-document rule of a policy set in one CEL
program (a document costs one call into the runtime, not one per rule), and per rule the
program of what a rule that does not pass found (``findings``).

``compiling`` builds them; ``evaluating`` reads their answers, which are lists of ints and
messages, never text to parse. What the answers cannot say (an error, a non-bool verdict)
comes from the rule-by-rule reference in ``judging``, and the differential test proves the
two paths give the same results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from leitplanke.core import documents
from leitplanke.core.policies import Policy
from leitplanke.engine import cel
from leitplanke.engine.cel import sourcetext

# the answer's integers: per rule n >= 0 "passes, over n items (1 for a plain rule)" or
# NOT_ALL "ask the reference"; per policy with a condition first SKIPPED or UNSURE
NOT_ALL = -1
SKIPPED = -2  # the policy's condition is false: no rule applies
UNSURE = -3  # the condition is not a bool: the reference says what that means
PASSED, FAILED, UNDECIDED = 0, 1, 2  # an item's verdict in ``findings``
PARAMS = re.compile(r"\bparams\b")


@dataclass(frozen=True, slots=True)
class Part:
    """A policy as the document program sees it: its id, its rules' texts."""

    id: str
    policy: Policy
    rules: tuple[tuple[str, str | None], ...]  # (validate, forEach) per per-document rule


def document_program(
    env: cel.Environment, parts: Sequence[Part]
) -> tuple[cel.Program | None, dict[str, int]]:
    """One program for the per-document rules of every part that can join it, and each
    joined policy's slot.

    The program is a flat list of ints: slot ``i`` adds nothing unless ``lpOn[i]`` (the policy
    matches the document), else (``SKIPPED``) or (``UNSURE``) if its condition is false or not
    a bool, and else an int per rule (see ``NOT_ALL``). Binds are eager (``cel.sourcetext``), so a
    value the original program would not have needed may fail it: an error means "evaluate
    rule by rule". Parts whose text cannot be rewritten or compiled are not joined.
    """
    texts = [(part, text) for part in parts if (text := _slot(part)) is not None]
    while texts:
        joined = _balanced([f"(lpOn[{slot}] ? {text} : [])" for slot, (_, text) in enumerate(texts)])
        program = env.compile(with_pod_selections(joined))
        if isinstance(program, cel.Program):
            return program, {part.id: slot for slot, (part, _) in enumerate(texts)}
        # a part the checker refuses (a verdict typed as a string, say) or nested too deep
        fine = [(part, text) for part, text in texts if isinstance(env.compile(text), cel.Program)]
        if len(fine) == len(texts):
            break
        texts = fine
    return None, {}


def _balanced(terms: list[str]) -> str:
    """``terms`` concatenated as a balanced tree: the parser's nesting stays logarithmic."""
    while len(terms) > 1:
        terms = [f"({' + '.join(terms[i : i + 2])})" for i in range(0, len(terms), 2)]
    return terms[0]


def _slot(part: Part) -> str | None:
    """The text of one policy's slot, or None if it cannot join."""
    if not part.rules:
        return None
    ints = []
    for validate, for_each in part.rules:
        if for_each:
            ints.append(each_passes(for_each, validate))
        else:
            # a non-bool verdict is not a pass: the reference says what it is
            ints.append(f"({embedded(validate)} == true ? 1 : {NOT_ALL})")
    body = f"[{', '.join(ints)}]"
    condition = part.policy.match.condition
    if condition:
        body = (
            f"[{embedded(condition)}].map(lpApplies, lpApplies == true ? {body}"
            f" : lpApplies == false ? [{SKIPPED}] : [{UNSURE}])[0]"
        )
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


def findings(validate: str, message: str | None, for_each: str | None) -> str:
    """CEL for what a rule that does not simply pass found: per item (one for a plain rule)
    ``[PASSED]``, ``[FAILED, message]`` (null without a message program) or ``[UNDECIDED]``
    (an error, a non-bool verdict, a forEach that is no list: the reference says which)."""
    said = embedded(message) if message else "null"
    entry = (
        f"[{embedded(validate)}].map(lpHolds, lpHolds == true ? [{PASSED}]"
        f" : lpHolds == false ? [{FAILED}, {said}] : [{UNDECIDED}])[0]"
    )
    if not for_each:
        return entry
    each = f"lpItems.map(item, {entry})"
    return f"[{embedded(for_each)}].map(lpItems, type(lpItems) == list ? {each} : [[{UNDECIDED}]])[0]"


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
