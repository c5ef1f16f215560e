"""A CEL compile error names the file's line and column, whatever the style of the scalar that
holds the expression: plain, single- or double-quoted, literal or folded block."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from leitplanke import engine
from leitplanke.core.policies import ScalarText
from leitplanke.engine import loading, yamlnodes, yamlscalars

NOW = datetime(2026, 12, 1, tzinfo=UTC)

HEAD = """\
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: teams}
spec:
  match: {kinds: [Pod]}
  rules:
  - name: team
"""


def _where(validate: str) -> tuple[int, int]:
    loaded = loading.load_text(HEAD + validate, file="p.yaml", now=NOW)
    (problem,) = engine.compile(loaded.policies).problems
    assert problem.message == "undeclared reference to 'teamz'"
    return problem.line, problem.column


@pytest.mark.parametrize(
    ("validate", "where"),
    [
        ("    validate: object.kind in teamz\n", (8, 30)),
        ("    validate: object.kind != ''\n      && teamz.size() > 0\n", (9, 10)),
        ("    validate: 'object.kind != ''x'' && teamz.size() > 0'\n", (8, 40)),
        ("    validate: \"object.kind != \\\"x\\\" && teamz.size() > 0\"\n", (8, 40)),
        ('    validate: "object.kind != \\u0022x\\u0022 && teamz.size() > 0"\n', (8, 48)),
        ('    validate: "object.kind != \'x\' \\\n      && teamz.size() > 0"\n', (9, 10)),
        ("    validate: |\n      object.kind != 'x' &&\n        teamz.size() > 0\n", (10, 9)),
        ("    validate: >-\n      object.kind != 'x'\n      && teamz.size() > 0\n", (10, 10)),
        ("    validate: >\n      object.kind != 'x'\n\n      || teamz.size() > 0\n", (11, 10)),
    ],
    ids=["plain", "plain-two-lines", "single", "double", "double-unicode", "double-escaped-break",
         "literal", "folded-strip", "folded-empty-line"],
)  # fmt: skip
def test_a_cel_error_names_the_file_column_of_the_mistake_in_every_scalar_style(
    validate: str, where: tuple[int, int]
) -> None:
    assert _where(validate) == where


TRICKY = """\
plain: a  b
  c

  d
single: 'it''s  ''x''
   y'
double: "tab\\tx \\"q\\" \\x41\\u00e9 \\
   joined  \\ y
   z"
literal: |2+
    more
   less

   end
folded: >-
   one
   two
     indented
   three

   four
"""


def test_every_character_of_a_scalar_value_maps_back_to_where_it_is_written() -> None:
    (doc,) = yamlnodes.read_documents(TRICKY)
    for key, value in doc.data.items():
        scalar = doc.scalar_text(key)
        assert scalar is not None
        rebuilt, offsets = yamlscalars.value_offsets(scalar, value)
        assert rebuilt.rstrip("\n") == value.rstrip("\n"), key
        for char, offset in zip(rebuilt, offsets, strict=True):
            written = scalar.text[offset]
            # a character is where it is written, or at the escape or line break that makes it
            assert written in (char, "\\", "\n", " ") or (char == "'" and written == "'"), (key, char)


def test_a_value_the_scalar_does_not_read_as_has_no_file_position() -> None:
    scalar = ScalarText("'x'", 0, 5, "'")
    assert yamlscalars.file_position(scalar, "'x'", 1, 1) is None
    assert yamlscalars.file_position(scalar, "x", 1, 1) == (1, 7)
    assert yaml.safe_load("k: 'x'")["k"] == "x"
