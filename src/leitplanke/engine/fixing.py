"""Fixing: apply the mechanical fixes of failing results to YAML text, keeping everything else.

Only the documents that change are re-serialised (ruamel.yaml round-trip, so their
comments, key order and quoting survive); every other byte of the file stays as it
was. A result is never written unless it parses back. Unsafe fixes (they change what
the workload does) are left out unless asked for. Called by ``leitplanke fix``; the admission
webhook's mutation applies the same fixes to a plain (JSON) object with ``fix_object``.
"""

from __future__ import annotations

import copy
import difflib
import io
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelError

from leitplanke.core.documents import parse_path
from leitplanke.core.problems import Level, Problem
from leitplanke.core.results import Result, Verdict

_SEPARATOR = re.compile(r"^---(?:\s|$)")
_KEY_LINE = re.compile(r"^(\s*)(?:- )?[^#\s][^:#]*:\s*$")
_DASH_LINE = re.compile(r"^(\s*)- ")


@dataclass(slots=True)
class Chunk:
    """One document's text within a file, with its first and last line (1-based)."""

    text: str
    first: int
    last: int


@dataclass(slots=True)
class FileFix:
    file: str
    original: str
    fixed: str
    applied: list[Result] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.fixed != self.original

    def diff(self) -> str:
        """A unified diff that ``git apply`` and ``patch`` accept, after a ``#`` line per change
        saying what it does (both tools skip text before a file's headers)."""
        before, after = diff_headers(self.file)
        lines = list(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.fixed.splitlines(keepends=True),
                fromfile=before,
                tofile=after,
            )
        )
        if not lines:
            return ""
        notes = [f"# {note}\n" for note in dict.fromkeys(map(explain, self.applied))]
        return "".join(notes + [_terminated(line) for line in lines])


def _terminated(line: str) -> str:
    return line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n"


def diff_headers(file: str) -> tuple[str, str]:
    """The ``---`` and ``+++`` names of ``file`` as the command line gave it: ``a/`` and ``b/``
    before a relative path (as git writes them), an absolute path as it is (as ``diff -u`` does;
    ``a/`` glued to it would name no file)."""
    if PurePath(file).is_absolute():
        return file, file
    return f"a/{file}", f"b/{file}"


def fixable(results: Iterable[Result]) -> dict[str, list[Result]]:
    """Failing and warning results with a fix, by file."""
    by_file: dict[str, list[Result]] = {}
    for result in results:
        if result.verdict in (Verdict.FAIL, Verdict.WARN) and result.fix is not None:
            by_file.setdefault(result.location.file, []).append(result)
    return by_file


def is_safe(result: Result) -> bool:
    """Whether the result's fix keeps what the workload does (its policy says so)."""
    return result.fix is not None and result.fix.get("safe") is True


def choose(results: Iterable[Result], *, unsafe: bool) -> tuple[list[Result], list[Result]]:
    """``(to apply, left out)``: every fix when ``unsafe``, else only the safe ones."""
    chosen: list[Result] = []
    left: list[Result] = []
    for result in results:
        (chosen if unsafe or is_safe(result) else left).append(result)
    return chosen, left


def explain(result: Result) -> str:
    """One line on what a result's fix does, to which resource, and whether it is safe."""
    safety = "safe" if is_safe(result) else "unsafe"
    what = describe(result.fix or {})
    return f"{result.policy}/{result.rule} ({safety}) on {result.resource.display}: {what}"


def describe(fix: Mapping[str, Any]) -> str:
    """The fix's own description, or what its patch does when its policy gives none."""
    given = str(fix.get("description") or "")
    if given:
        return given
    steps = [f"removes {key}" for key in fix.get("remove") or ()]
    steps += _merge_steps(fix.get("merge") or {}, prefix="")
    return "; ".join(steps) or "changes nothing"


def _merge_steps(patch: Mapping[str, Any], *, prefix: str) -> list[str]:
    steps: list[str] = []
    for key, value in patch.items():
        name = f"{prefix}{key}"
        if value is None:
            steps.append(f"removes {name}")
        elif isinstance(value, Mapping) and value:
            steps += _merge_steps(value, prefix=f"{name}.")
        else:
            steps.append(f"sets {name} to {json.dumps(value, default=str)}")
    return steps


def split_chunks(text: str) -> list[Chunk]:
    """The file cut at ``---`` lines; the separators stay with the chunk they open."""
    lines = text.splitlines(keepends=True)
    chunks: list[Chunk] = []
    start = 0
    for number, line in enumerate(lines):
        if _SEPARATOR.match(line) and number > start:
            chunks.append(Chunk("".join(lines[start:number]), start + 1, number))
            start = number
    chunks.append(Chunk("".join(lines[start:]), start + 1, max(len(lines), start + 1)))
    return chunks


def fix_text(text: str, results: Sequence[Result], *, file: str) -> FileFix:
    outcome = FileFix(file=file, original=text, fixed=text)
    chunks = split_chunks(text)
    pending: dict[int, list[Result]] = {}
    for result in results:
        index = next((i for i, c in enumerate(chunks) if c.first <= result.location.line <= c.last), None)
        if index is not None:
            pending.setdefault(index, []).append(result)
    for index, chunk_results in sorted(pending.items()):
        new_text = _fix_chunk(chunks[index].text, chunk_results, outcome)
        if new_text is not None:
            chunks[index].text = new_text
    candidate = "".join(c.text for c in chunks)
    if candidate != text and _parses_back(candidate, like=text, file=file, outcome=outcome):
        outcome.fixed = candidate
    elif candidate != text:
        outcome.applied.clear()
    return outcome


def _round_tripper(text: str) -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap long lines
    mapping, sequence, offset = guess_indent(text)
    rt.indent(mapping=mapping, sequence=sequence, offset=offset)
    return rt


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as ruamel.yaml wants them, read off the text itself."""
    mapping, offset = 2, 0
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for above, below in itertools.pairwise(lines):
        key = _KEY_LINE.match(above)
        if not key or above.lstrip().startswith("- "):
            continue
        parent = len(key.group(1))
        dash = _DASH_LINE.match(below)
        if dash:
            offset = max(0, len(dash.group(1)) - parent)
            break
        child = len(below) - len(below.lstrip())
        if child > parent:
            mapping = child - parent
    # ruamel needs room for "- " after the dash: the sequence indent is at least offset + 2
    return mapping, max(mapping + offset, offset + 2) if offset else max(mapping, 2), offset


def _fix_chunk(text: str, results: Sequence[Result], outcome: FileFix) -> str | None:
    rt = _round_tripper(text)
    try:
        data = rt.load(text)
    except RuamelError as exc:
        outcome.problems.append(Problem(outcome.file, 0, "fix-unparsable", f"cannot round-trip: {exc}"))
        return None
    if not isinstance(data, CommentedMap):
        return None
    if isinstance(data.get("items"), list) and str(data.get("kind", "")).endswith("List"):
        outcome.problems.append(
            skipped_fix(outcome.file, "objects inside a kind: List are not fixed; fix them by hand")
        )
        return None
    changed = False
    for result in results:
        if _identity_matches(data, result) and _apply(data, result.fix or {}):
            outcome.applied.append(result)
            changed = True
    if not changed:
        return None
    buffer = io.StringIO()
    starts_explicit = text.lstrip().startswith("---")
    rt.explicit_start = starts_explicit
    rt.dump(data, buffer)
    dumped = buffer.getvalue()
    leading = text[: len(text) - len(text.lstrip())] if starts_explicit else ""
    return leading + dumped


def _identity_matches(data: CommentedMap, result: Result) -> bool:
    meta = data.get("metadata") or {}
    return data.get("kind") == result.resource.kind and str(meta.get("name", "")) == result.resource.name


def fix_object(body: Mapping[str, Any], results: Sequence[Result]) -> tuple[dict[str, Any], list[Result]]:
    """A deep copy of a plain (JSON) object with the fixes of ``results`` applied to it, and the
    results whose fix changed something. The results are those of this one object; ``body`` is
    never changed."""
    fixed: dict[str, Any] = copy.deepcopy(dict(body))
    applied = [result for result in results if _apply(fixed, result.fix or {}, mapping=dict)]
    return fixed, applied


def _apply(
    data: dict[str, Any], fix: Mapping[str, Any], *, mapping: type[dict[str, Any]] = CommentedMap
) -> bool:
    """Apply one fix in place; ``mapping`` is the type of the mappings in ``data`` (and of the
    ones the fix creates): ruamel's round-trip mappings for text, ``dict`` for JSON objects."""
    target = _resolve(data, str(fix.get("path", "")))
    if not isinstance(target, mapping):
        return False
    before = _snapshot(target)
    for key in fix.get("remove") or ():
        target.pop(key, None)
    merge_patch(target, fix.get("merge") or {}, mapping=mapping)
    return bool(_snapshot(target) != before)


def _snapshot(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _snapshot(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_snapshot(v) for v in node]
    return node


def _resolve(data: Any, path: str) -> Any:
    node = data
    for part in parse_path(path) if path else []:
        # ruamel's CommentedSeq and CommentedMap are a list and a dict
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            continue
        if not (isinstance(node, dict) and isinstance(part, str) and part in node):
            return None
        node = node[part]
    return node


def merge_patch(
    target: dict[str, Any], patch: Mapping[str, Any], *, mapping: type[dict[str, Any]] = CommentedMap
) -> None:
    """RFC 7386 merge patch, in place, creating missing mappings of type ``mapping`` (ruamel's
    round-trip mapping by default)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping):
            child = target.get(key)
            if not isinstance(child, mapping):
                child = mapping()
                target[key] = child
            merge_patch(child, value, mapping=mapping)
        else:
            # a copy: the same list placed twice would come out as a YAML anchor and alias
            target[key] = copy.deepcopy(value)


def _parses_back(candidate: str, *, like: str, file: str, outcome: FileFix) -> bool:
    try:
        before = [d for d in yaml.safe_load_all(like) if d is not None]
        after = [d for d in yaml.safe_load_all(candidate) if d is not None]
    except yaml.YAMLError as exc:
        outcome.problems.append(
            Problem(file, 0, "fix-broke-file", f"fixed text does not parse, not written: {exc}")
        )
        return False
    if len(before) != len(after):
        outcome.problems.append(
            Problem(file, 0, "fix-broke-file", "fixed text has another number of documents, not written")
        )
        return False
    return True


def skipped_fix(file: str, reason: str) -> Problem:
    return Problem(file, 0, "fix-skipped", reason, level=Level.WARNING)
