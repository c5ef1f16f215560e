"""The YAML reading every scan relies on, pinned on tricky documents, and a compiled candidate
(``yaml-rs``) compared with it document by document over the shared corpora.

The candidate is not adopted (README, "Performance"): these tests record where and how it differs,
so that a later candidate is judged by the same table. They skip when ``yaml_rs`` is not installed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leitplanke.core.documents import Document
from leitplanke.core.problems import Problem
from leitplanke.sources import building, composing, parsing

SHARED = Path(__file__).parents[2].parent / "shared"
CORPORA = (SHARED / "bench" / "real", SHARED / "corpus")
HEAD = b"apiVersion: v1\nkind: ConfigMap\n"
_LEVELS = b"".join(
    b"%c: &%c [%s]\n" % (name, name, b", ".join([b"*%c" % (name - 1)] * 10)) for name in b"bcdefg"
)
BOMB = HEAD + b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + _LEVELS

TRICKY: dict[str, bytes] = {
    "yaml-1.1-bools": HEAD + b"data: {a: yes, b: on, c: off, d: NO, e: y, f: n, g: 'yes', h: True}\n",
    "octal-and-other-bases": HEAD
    + b"data: {a: 0755, b: 0o755, c: 0x1F, d: 0b101, e: 1_000, f: '0755', g: 08}\n",
    "floats": HEAD + b"data: {a: 1e5, b: 1.5e3, c: -.5, d: .inf, e: 9223372036854775808, f: 8080:80}\n",
    "timestamps": HEAD + b"data: {a: 2024-01-02, b: 2024-01-02T03:04:05Z}\n",
    "nulls": HEAD + b"data:\n  a:\n  b: ~\n  c: Null\n  d: ''\n",
    "keys-as-written": HEAD + b"data:\n  80: http\n  true: t\n  null: n\n",
    "merge-key": HEAD + b"base: &base {a: 1, b: 2}\ndata:\n  <<: *base\n  b: 3\n",
    "anchors": HEAD + b"metadata: {name: x, labels: &l {app: web}}\nspec:\n  selector: *l\n",
    "duplicate-key": HEAD + b"metadata:\n  name: a\n  name: b\n",
    "alias-bomb": BOMB,
    "stream-with-comments": (
        b"# lead\n--- # after the marker\n"
        + HEAD
        + b"metadata: {name: a}\n---\n---\n# only a comment\n---\n"
        + HEAD
        + b"metadata: {name: b}\n...\n"
    ),
    "block-scalars": HEAD
    + b"data:\n  lit: |\n    one\n\n  fold: >-\n    one\n    two\n  keep: |+\n    x\n\n  last: |\n    end",
    "tabs": HEAD + b'data:\n  a: "x\\ty"\n  b: x\ty\n',
    "byte-order-mark": b"\xef\xbb\xbf" + HEAD + b"metadata: {name: bom}\n",
    "tags": HEAD + b"data: {a: !!str 123, b: !!int '7', c: !custom x}\n",
}

# What the PyYAML path gives: (line, body without apiVersion and kind) per document, (code, line) per problem.
# Where Kubernetes (sigs.k8s.io/yaml on go-yaml v2) reads a value otherwise, the comment says so.
EXPECTED: dict[str, list[Any]] = {
    # go-yaml v2 (sigs.k8s.io/yaml) reads y/Y/n/N as booleans too
    "yaml-1.1-bools": [
        (1, {"data": dict(a=True, b=True, c=False, d=False, e=True, f=False, g="yes", h=True)})
    ],
    # Go's ParseInt(base 0): 0o755 is 493; 08 is no octal, so go-yaml v2 reads the float 8.0
    "octal-and-other-bases": [(1, {"data": dict(a=493, b=493, c=31, d=5, e=1000, f="0755", g=8.0)})],
    # beyond int64 go-yaml v2 keeps a uint64, which CEL cannot hold: here a float
    "floats": [(1, {"data": dict(a=1e5, b=1500.0, c=-0.5, d=math.inf, e=float(2**63), f="8080:80")})],
    # go-yaml v2 hands an unquoted timestamp to an untyped value as its text
    "timestamps": [(1, {"data": {"a": "2024-01-02", "b": "2024-01-02T03:04:05Z"}})],
    "nulls": [(1, {"data": {"a": None, "b": None, "c": None, "d": ""}})],
    # keys as sigs.k8s.io/yaml writes them into JSON (a null key it refuses, here as written); n is false
    "keys-as-written": [(1, {"data": {"80": "http", "true": "t", "null": False}})],
    "merge-key": [(1, {"base": {"a": 1, "b": 2}, "data": {"a": 1, "b": 3}})],
    "anchors": [
        (1, {"metadata": {"name": "x", "labels": {"app": "web"}}, "spec": {"selector": {"app": "web"}}})
    ],
    "duplicate-key": [("duplicate-key", 5), (1, {"metadata": {"name": "b"}})],
    "alias-bomb": [("alias-bomb", 1)],
    "stream-with-comments": [(3, {"metadata": {"name": "a"}}), (10, {"metadata": {"name": "b"}})],
    "block-scalars": [(1, {"data": {"lit": "one\n", "fold": "one two", "keep": "x\n\n", "last": "end"}})],
    "tabs": [(1, {"data": {"a": "x\ty", "b": "x\ty"}})],
    "byte-order-mark": [(1, {"metadata": {"name": "bom"}})],
    "tags": [(1, {"data": {"a": "123", "b": 7, "c": "x"}})],
}


def pyyaml_path(data: bytes) -> list[Any]:
    found: list[Any] = []
    for item in parsing.parse_documents(data, file="in.yaml"):
        if isinstance(item, Document):
            body = {k: v for k, v in item.body.items() if k not in ("apiVersion", "kind")}
            found.append((item.origin.line, body))
        elif isinstance(item, Problem):
            found.append((item.code, item.line))
    return found


def same(left: Any, right: Any) -> bool:
    """Equal values of equal types (``1 == 1.0 == True`` is not good enough), NaN equal to NaN."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_a_tricky_document_reads_as_kubernetes_reads_it_with_exact_lines(name: str) -> None:
    assert same(pyyaml_path(TRICKY[name]), EXPECTED[name])


def test_every_path_of_a_document_has_the_line_of_its_key_or_item() -> None:
    data = HEAD + b"metadata:\n  name: x\nspec:\n  ports:\n  - port: 80\n    name: |\n      http\n  - 443\n"
    (document,) = parsing.parse_documents(data, file="in.yaml")
    assert isinstance(document, Document)
    assert dict(document.origin.lines) == {
        "apiVersion": 1,
        "kind": 2,
        "metadata": 3,
        "metadata.name": 4,
        "spec": 5,
        "spec.ports": 6,
        "spec.ports[0]": 7,
        "spec.ports[0].port": 7,
        "spec.ports[0].name": 8,
        "spec.ports[1]": 10,
    }


# ---- the candidate: yaml-rs, values only (it reports no positions) ----


def candidate_values(data: bytes) -> list[Any]:
    """The non-empty documents as yaml-rs reads them; raises what it raises."""
    yaml_rs = pytest.importorskip("yaml_rs", reason="yaml-rs is not installed (a candidate only)")
    text = data.decode("utf-8").removeprefix("\ufeff")
    read = yaml_rs.loads(text, parse_datetime=False, duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error)
    return [value for value in (read if isinstance(read, list) else [read]) if value is not None]


def reference_values(data: bytes) -> list[Any]:
    """The non-empty documents as the PyYAML path builds them (whole documents, Lists not split)."""
    text = composing.SourceText(data.removeprefix(b"\xef\xbb\xbf"))
    found = []
    for root in composing.compose_roots(text, file="in.yaml", syntax_code="yaml-syntax"):
        if isinstance(root, Problem) or building.exceeds(root.node, parsing.DEFAULT_LIMITS.max_nodes):
            raise ValueError("the PyYAML path refuses this input")
        value, _ = building.build(root.node)
        if value is not None:
            found.append(value)
    return found


def first_difference(ours: Any, theirs: Any) -> tuple[Any, Any] | None:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if ours.keys() != theirs.keys():
            return sorted(map(repr, ours.keys() ^ theirs.keys())), "keys"  # what _kind_of_difference reads
        found = (first_difference(ours[key], theirs[key]) for key in ours)
        return next((pair for pair in found if pair is not None), None)
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        found = (first_difference(a, b) for a, b in zip(ours, theirs, strict=True))
        return next((pair for pair in found if pair is not None), None)
    return None if same(ours, theirs) else (ours, theirs)


def classified(data: bytes) -> str:
    """How the candidate reads ``data`` compared with the PyYAML path, as one word."""
    try:
        ours = reference_values(data)
    except ValueError:
        ours = None
    try:
        theirs = candidate_values(data)
    except (ValueError, TypeError) as exc:  # yaml_rs.YAMLDecodeError is a ValueError
        if ours is None:
            return "both-refuse"
        return "refuses-duplicate-key" if "duplicate" in str(exc) else "refuses-what-pyyaml-reads"
    if ours is None:
        return "reads-what-pyyaml-refuses"
    if len(ours) != len(theirs):
        return "other-document-count"
    pair = next((p for p in map(first_difference, ours, theirs) if p is not None), None)
    return "same" if pair is None else _kind_of_difference(*pair)


def _kind_of_difference(ours: Any, theirs: Any) -> str:
    if theirs == "keys":
        return "merge-key-not-applied" if "'<<'" in ours else "non-string-key"
    if isinstance(ours, bool) and isinstance(theirs, str):
        return "yaml-1.1-bool"
    if isinstance(ours, int) and isinstance(theirs, int):
        return "yaml-1.1-octal"
    if isinstance(ours, str) and isinstance(theirs, float):
        return "yaml-1.2-float"
    if isinstance(ours, float) and isinstance(theirs, int) and not isinstance(theirs, bool):
        return "integer-beyond-int64"
    if isinstance(ours, str) and theirs == ours + "\n":
        return "clipped-block-scalar-at-end-of-input"
    return f"other: {ours!r} vs {theirs!r}"


CANDIDATE_ON_TRICKY = {
    "yaml-1.1-bools": "yaml-1.1-bool",
    "octal-and-other-bases": "yaml-1.1-octal",  # 0755 is 755 there, 0o755 is 493
    "floats": "integer-beyond-int64",  # 2**63 an int there, a float here (CEL holds no more than int64)
    "timestamps": "same",
    "nulls": "same",
    "keys-as-written": "non-string-key",
    "merge-key": "merge-key-not-applied",  # `<<` stays a key
    "anchors": "same",
    "duplicate-key": "refuses-duplicate-key",  # the PyYAML path keeps the last value and warns
    "alias-bomb": "both-refuse",
    "stream-with-comments": "same",
    "block-scalars": "clipped-block-scalar-at-end-of-input",
    "tabs": "same",
    "byte-order-mark": "same",
    "tags": "same",
}


def test_the_candidate_differs_on_tricky_documents_exactly_where_documented() -> None:
    pytest.importorskip("yaml_rs", reason="yaml-rs is not installed (a candidate only)")
    assert {name: classified(data) for name, data in TRICKY.items()} == CANDIDATE_ON_TRICKY


def _corpus_files() -> Iterator[Path]:
    for root in CORPORA:
        yield from sorted(path for path in root.rglob("*") if path.suffix in (".yaml", ".yml"))


def test_the_candidate_differs_on_the_corpora_only_in_documented_ways() -> None:
    pytest.importorskip("yaml_rs", reason="yaml-rs is not installed (a candidate only)")
    if not all(root.is_dir() for root in CORPORA):
        pytest.skip(f"the shared corpora are absent ({', '.join(map(str, CORPORA))})")
    kinds: dict[str, int] = {}
    for path in _corpus_files():
        kind = classified(path.read_bytes())
        kinds[kind] = kinds.get(kind, 0) + 1
    assert set(kinds) == {
        "same",
        "yaml-1.1-bool",  # Gatekeeper suites: `violations: yes`
        "yaml-1.1-octal",  # defaultMode: 0400 would be 400, not 256
        "non-string-key",  # ConfigMap data keys such as 404
        "clipped-block-scalar-at-end-of-input",
        "refuses-duplicate-key",
        "refuses-what-pyyaml-reads",
    }, kinds
