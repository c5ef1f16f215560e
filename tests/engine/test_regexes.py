"""The RE2 adapter: Go's regexp meaning (matches, replacement templates, error words), linear time."""

from __future__ import annotations

import pytest

from leitplanke.engine import regexes

PATHOLOGICAL = "a" * 100_000 + "!"


def test_a_pattern_that_backtracks_exponentially_elsewhere_finishes_with_the_right_answer() -> None:
    assert [
        regexes.search("(a+)+$", PATHOLOGICAL),
        regexes.full_match("(a|aa)+", PATHOLOGICAL),
        regexes.find("(a+)+!", PATHOLOGICAL) == PATHOLOGICAL,
        regexes.replace_all("(a*)*b", PATHOLOGICAL, "x") == PATHOLOGICAL,
    ] == [False, False, True, True]


def test_re2_syntax_has_its_re2_meaning() -> None:
    assert [
        regexes.find("a$", "a\n"),  # $ is the end of the text, not before a final newline
        regexes.find("(?m)a$", "a\n"),
        regexes.find_all("[[:digit:]]+", "x1y22"),
        regexes.find("\\d", "٣4"),  # \d is ASCII
        regexes.find("\\pL+", "größe1"),
        regexes.find("(?P<x>a)(?<y>b)", "ab"),
    ] == ["", "a", ["1", "22"], "4", "größe", "ab"]


def test_find_all_skips_an_empty_match_right_after_a_match_as_go_does() -> None:
    assert [
        regexes.find_all("[0-9]*", "123 abc 456"),
        regexes.find_all("a*", "baaa"),
        regexes.find_all("a*|b", "ab"),
        regexes.find_all("[0-9]+", "1 2 3", limit=2),
        regexes.find_all("[0-9]+", "1 2 3", limit=0),
    ] == [["123", "", "", "", "", "456"], ["", "aaa"], ["a", ""], ["1", "2"], []]


def test_replacement_templates_expand_as_go_expands_them() -> None:
    assert [
        regexes.replace_all("a(x*)b", "-ab-axxb-", "${1}W"),
        regexes.replace_all("a(x*)b", "-ab-axxb-", "$1W"),  # the group named "1W": empty
        regexes.replace_all("(?P<n>a)", "ab", "[$n$$$]"),  # $$ is a dollar; a lone $ stays
        regexes.replace_all("(a)", "a", "$2|$01|${1}"),  # no group 2; 01 is a name, not a number
        regexes.replace_all("a*", "baaac", "X"),  # no empty match right after a match
        regexes.replace_all_literal("(a)", "aa", "$1"),
    ] == ["-W-xxW-", "---", "[a$$]b", "||a", "XbXcX", "$1$1"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a)\\1", "error parsing regexp: invalid escape sequence: `\\1`"),
        ("(?=x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
        ("(?!x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"),
        ("(", "error parsing regexp: missing closing ): `(`"),
        (")", "error parsing regexp: unexpected ): `)`"),
        ("[a", "error parsing regexp: missing closing ]: `[a`"),
        ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
        ("*", "error parsing regexp: missing argument to repetition operator: `*`"),
        ("x{1001}", "error parsing regexp: invalid repeat count: `{1001}`"),
        ("[b-a]", "error parsing regexp: invalid character class range: `b-a`"),
        ("\\", "error parsing regexp: trailing backslash at end of expression: ``"),
    ],
)
def test_a_pattern_re2_rejects_is_reported_in_go_words(pattern: str, message: str) -> None:
    error = regexes.check(pattern)
    assert (type(error), str(error)) == (regexes.PatternError, message)
    with pytest.raises(regexes.PatternError, match=r"^error parsing regexp: "):
        regexes.search(pattern, "x")


def test_a_pattern_re2_accepts_has_no_error() -> None:
    assert regexes.check("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$") is None
