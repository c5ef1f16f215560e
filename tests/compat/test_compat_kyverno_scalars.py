"""Kyverno's scalar values: wildcards, quantities, durations and blang/semver ranges, with exact answers."""

from __future__ import annotations

import pytest
import semver

from leitplanke.engine.compat.kyverno import scalars, substituting


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("1.5.0", ">1.0.0 <2.0.0 || >=3.0.0", True),
        ("2.5.0", ">1.0.0 <2.0.0 || >=3.0.0", False),
        ("3.0.0", ">1.0.0 <2.0.0 || >=3.0.0", True),
        ("1.2.3", "1.2.3", True),
        ("1.2.3", "==1.2.3", True),
        ("1.2.3", "!1.2.3", False),
        ("1.2.4", "!=1.2.3", True),
        ("1.2.3", ">= 1.2.0", True),  # a space after the operator belongs to the comparator
        ("1.2.3-rc.1", ">=1.2.3", False),  # a pre-release comes before its release
        ("1.2.3-rc.1", ">=1.2.3-alpha", True),
        ("1.2.3+build.7", "=1.2.3", True),  # build metadata does not count
        ("1.2.9", "1.2.x", True),
        ("1.3.0", "1.2.x", False),
        ("1.9.0", "1.x", True),
        ("2.0.0", "1.x", False),
        ("2.0.0", ">1.x", True),
        ("1.9.0", "<=1.x", True),
        ("v1.2.3", "<1.0.0", True),  # a version that does not parse counts as 0.0.0, as in Kyverno
    ],
)
def test_semver_ranges_mean_what_blang_semver_means(version: str, constraint: str, expected: bool) -> None:
    assert scalars.semver_satisfies(version, constraint) is expected


@pytest.mark.parametrize("constraint", ["|| >1.0.0", ">1.0.0 ||", "~1.2.3", ">=1.2", "x", ""])
def test_a_range_blang_rejects_is_an_error(constraint: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid semver range "):
        scalars.semver_satisfies("1.0.0", constraint)


def test_semver_compare_with_a_bad_range_is_a_variable_error() -> None:
    assert substituting.search("semver_compare('1.2.3', '>1.0.0 <2.0.0 || >=3.0.0')", {}) is True
    with pytest.raises(substituting.VariableError, match="invalid semver range"):
        substituting.search("semver_compare('1.2.3', '~1.2')", {})


def test_versions_are_read_leniently_for_comparisons() -> None:
    assert [scalars.parse_version(t) for t in ("v1.2", " 1.2.3-rc.1 ", "1", "1.2-rc", "a.b")] == [
        semver.Version(1, 2, 0),
        semver.Version(1, 2, 3, "rc.1"),
        semver.Version(1, 0, 0),
        None,
        None,
    ]


def test_quantities_are_the_cel_librarys_in_nano_units() -> None:
    assert [scalars.parse_quantity(t) for t in ("500m", " 1Gi ", "1e3", "1.5", "ten", "")] == [
        500_000_000,
        2**30 * 10**9,
        1000 * 10**9,
        1_500_000_000,
        None,
        None,
    ]
    assert substituting.search("add('500m', '1')", {}) == 1.5


def test_wildcards_match_whole_texts_in_linear_time() -> None:
    assert [
        scalars.wildcard_match("nginx:*", "nginx:1.27"),
        scalars.wildcard_match("ngin?", "nginx"),
        scalars.wildcard_match("a.c", "abc"),  # a dot is a dot
        scalars.wildcard_match("*", "line\nbreak"),
        scalars.wildcard_match("*a*a*a*a*a*a*a*a*b", "a" * 50_000),
    ] == [True, True, False, True, False]


def test_durations_read_and_render_as_go_does() -> None:
    assert [scalars.parse_duration(t) for t in ("1h30m", "-5s", "0", "1.5ms", "5", "")] == [
        5400.0,
        -5.0,
        0.0,
        0.0015,
        None,
        None,
    ]
    assert [scalars.render_duration(s) for s in (3600.0, 90.0, 0.5)] == ["1h0m0s", "1m30s", "0.5s"]


def test_kyverno_regex_functions_run_on_re2() -> None:
    text = "a" * 100_000 + "!"
    assert [
        substituting.search("regex_match('(a+)+$', x)", {"x": text}),
        substituting.search("regex_match('[[:digit:]]+', `42`)", {}),
        substituting.search("regex_replace_all('(\\w+)@(\\w+)', 'me@host', '${2}.$1')", {}),
        substituting.search("regex_replace_all_literal('a+', 'baac', '$1')", {}),
    ] == [False, True, "host.me", "b$1c"]
    with pytest.raises(substituting.VariableError, match="invalid or unsupported Perl syntax"):
        substituting.search("regex_match('(?=x)', 'x')", {})
