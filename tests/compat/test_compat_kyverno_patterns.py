"""Kyverno pattern semantics: anchors, wildcards and value operators, with exact verdicts."""

from __future__ import annotations

import pytest

from leitplanke.engine.compat.kyverno import patterns

POD = {
    "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {
        "hostNetwork": False,
        "containers": [
            {"name": "nginx", "image": "nginx:1.25", "resources": {"limits": {"memory": "512Mi"}}},
            {"name": "sidecar", "image": "busybox:latest"},
        ],
    },
}


@pytest.mark.parametrize(
    ("pattern", "verdict"),
    [
        ({"spec": {"containers": [{"image": "!*:latest"}]}}, "fail"),
        ({"spec": {"containers": [{"image": "*:*"}]}}, "pass"),
        ({"spec": {"containers": [{"(name)": "nginx", "image": "nginx:*"}]}}, "pass"),
        ({"spec": {"containers": [{"(name)": "nginx", "image": "busybox:*"}]}}, "fail"),
        ({"spec": {"containers": [{"(name)": "redis", "image": "x"}]}}, "skip"),
        ({"spec": {"=(hostNetwork)": False}}, "pass"),
        ({"spec": {"=(hostPID)": False}}, "pass"),
        ({"spec": {"X(hostNetwork)": "null"}}, "fail"),
        ({"spec": {"X(hostPID)": "null"}}, "pass"),
        ({"spec": {"^(containers)": [{"name": "sidecar"}]}}, "pass"),
        ({"spec": {"^(containers)": [{"name": "redis"}]}}, "fail"),
        ({"spec": {"<(hostNetwork)": True, "containers": [{"image": "x"}]}}, "skip"),
        ({"metadata": {"labels": {"app.kubernetes.io/*": "?*"}}}, "pass"),
        (
            {"spec": {"containers": [{"name": "?*", "=(resources)": {"=(limits)": {"=(memory)": "<=1Gi"}}}]}},
            "pass",
        ),
        ({"spec": {"containers": [{"=(resources)": {"=(limits)": {"=(memory)": "<256Mi"}}}]}}, "fail"),
    ],
)
def test_compat_patterns_give_kyvernos_verdict(pattern: dict[str, object], verdict: str) -> None:
    assert patterns.match_pattern(POD, pattern).verdict == verdict


@pytest.mark.parametrize(
    ("value", "pattern", "holds"),
    [
        (1000, ">0", True),
        (0, ">0", False),
        ("500m", "<1", True),
        ("2Gi", "1Gi-4Gi", True),
        ("8Gi", "1Gi-4Gi", False),
        (5, "1!-4", True),
        (3, "1!-4", False),
        ("RuntimeDefault", "RuntimeDefault | Localhost", True),
        ("Unconfined", "RuntimeDefault | Localhost", False),
        (8080, ">1024 & <65536", True),
        ("30m", ">1h", False),
        ("2h", ">=1h", True),
        ("abc", "a?c", True),
        (None, "!*:latest", False),
        (None, None, True),
        ("", None, True),
        (True, True, True),
        ("true", True, False),
        ("80", 80, True),
    ],
)
def test_compat_value_operators_compare_numbers_quantities_and_durations(
    value: object, pattern: object, holds: bool
) -> None:
    assert patterns.value_matches(value, pattern) is holds
