"""CEL source as text: literals and comments masked, brackets matched, binds made eager."""

from __future__ import annotations

import pytest

from leitplanke.engine import cel
from leitplanke.engine.cel import sourcetext


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a + 'b(c' + \"d)\"", "a + '___' + \"__\""),
        ("'''one\n'two'\n''' + x", "'''__________''' + x"),
        ('r"a\\" + b"\\x00"', 'r"__" + b"____"'),
        ("x // a comment (\ny", "x" + " " * 15 + "\ny"),
        ("a.`b-c`.d", "a.`___`.d"),
        ("'it\\'s' + \"q\\\"\"", "'_____' + \"___\""),
    ],
)
def test_literals_and_comments_are_masked_in_place(source: str, expected: str) -> None:
    assert sourcetext.masked(source) == expected
    assert len(expected) == len(source)


def test_an_unclosed_literal_cannot_be_masked() -> None:
    assert sourcetext.masked("x == 'open") is None
    assert sourcetext.masked("'''never closed") is None


def test_the_closing_bracket_skips_brackets_in_literals() -> None:
    source = "f(a, ')', [g(b)], '(')"
    assert sourcetext.closing(source, 1) == len(source) - 1
    assert sourcetext.closing(source, 10) == 15
    assert sourcetext.closing("f(a, b", 1) == -1


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("cel.bind(x, 1, x + 1)", "[ 1].map(x,  x + 1)[0]"),
        (
            "cel.bind(a, [1, {'k': (2)}], cel.bind(b, a.size(), a[b - 1]))",
            "[ [1, {'k': (2)}]].map(a,  [ a.size()].map(b,  a[b - 1])[0])[0]",
        ),
        ("y + cel . bind(v, 'cel.bind(', v)", "y + [ 'cel.bind('].map(v,  v)[0]"),
        ("size(x) // cel.bind(q, 1, q)", "size(x) // cel.bind(q, 1, q)"),
    ],
)
def test_binds_become_one_item_maps(source: str, expected: str) -> None:
    assert sourcetext.eager_binds(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "object.bind == 1",  # a field of that name: left alone, so not rewritten for certain
        "cel.bind(x, 1)",
        "cel.bind(x.y, 1, 2)",
        "cel.bind(x, 1, 'open)",
        "cel.block([1], 2)",
    ],
)
def test_what_cannot_be_rewritten_for_certain_is_refused(source: str) -> None:
    assert sourcetext.eager_binds(source) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a comprehension that stops early leaves its variable's slot filled; the runtime's
        # lazy bind at the same depth reads it (false, [True, 2], [True, 5]) instead of binding
        ("[1, 2, 3].exists(z, z == 1) && cel.bind(y, 5, y) == 5", True),
        ("[[1, 2, 3].exists(z, z == 1), cel.bind(y, 5, y)]", [True, 5]),
        ("[[1, 2].exists(z, z == 1), cel.bind(y, 5, cel.bind(q, 3, q + y))]", [True, 8]),
        ("[cel.bind(a, 0, [1, 2, 3].exists(z, z == 1)), cel.bind(a, 0, cel.bind(y, 5, y))]", [True, 5]),
    ],
)
def test_eager_binds_read_what_they_bind(source: str, expected: object) -> None:
    env = cel.build_environment(variables=["object"])
    rewritten = sourcetext.eager_binds(source)
    assert rewritten is not None
    program = env.compile(rewritten)
    assert isinstance(program, cel.Program)
    assert program.evaluate(env.activation({"object": {}})) == expected
