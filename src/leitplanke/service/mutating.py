"""The mutating half of the admission webhook: the safe fixes of an object's failing rules
(and the unsafe ones where the environment allows them) as an RFC 6902 JSON Patch.

``service/admission`` calls ``mutate`` per ``/mutate`` request with the webhook's evaluator; the
fixes themselves are applied by ``engine.fixing.fix_object``, as ``leitplanke fix`` applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from leitplanke.core.results import Result
from leitplanke.engine import fixing

# as ``leitplanke fix``: two fixes may touch one list, the second sees the first's result
MAX_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Mutation:
    patch: list[dict[str, Any]]  # RFC 6902 operations from the object to the fixed one; [] if none
    applied: list[Result]  # the results whose fix is in the patch
    fixed: dict[str, Any]


def mutate(
    body: Mapping[str, Any], *, evaluate: Callable[[Mapping[str, Any]], list[Result]], unsafe: bool
) -> Mutation:
    """Evaluate, apply the chosen fixes, evaluate the fixed object again until nothing changes
    (at most ``MAX_ROUNDS``); the patch leads from ``body`` to the last object."""
    current: dict[str, Any] = dict(body)
    applied: list[Result] = []
    for _ in range(MAX_ROUNDS):
        candidates = [r for results in fixing.fixable(evaluate(current)).values() for r in results]
        chosen, _left_out = fixing.choose(candidates, unsafe=unsafe)
        if not chosen:
            break
        fixed, done = fixing.fix_object(current, chosen)
        if not done:
            break
        current, applied = fixed, applied + done
    return Mutation(patch=diff(body, current), applied=applied, fixed=current)


def diff(before: Any, after: Any, *, at: str = "") -> list[dict[str, Any]]:
    """RFC 6902 operations that turn ``before`` into ``after``: mappings key by key, lists of one
    length item by item, anything else (a list that grew or shrank) replaced whole."""
    if before == after:
        return []
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            op
            for index, pair in enumerate(zip(before, after, strict=True))
            for op in diff(*pair, at=f"{at}/{index}")
        ]
    if not (isinstance(before, Mapping) and isinstance(after, Mapping)):
        return [{"op": "replace", "path": at, "value": after}]
    operations: list[dict[str, Any]] = []
    for key in before:
        if key not in after:
            operations.append({"op": "remove", "path": f"{at}/{escape(str(key))}"})
    for key, value in after.items():
        path = f"{at}/{escape(str(key))}"
        if key not in before:
            operations.append({"op": "add", "path": path, "value": value})
        else:
            operations += diff(before[key], value, at=path)
    return operations


def escape(key: str) -> str:
    """A key as one JSON Pointer token (RFC 6901): ``~`` and ``/`` escaped, in that order."""
    return key.replace("~", "~0").replace("/", "~1")
