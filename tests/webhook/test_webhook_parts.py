"""The webhook's pure parts in-process: reading an AdmissionReview, the admission config, and
the limits on warnings and denial messages."""

from __future__ import annotations

from pathlib import Path

from leitplanke.core.problems import Problem
from leitplanke.core.results import Location, Resource, Result, Severity, Verdict
from leitplanke.engine import configuring, fixing
from leitplanke.service import admissionmodes, mutating
from leitplanke.sources import admission

EXAMPLE = Path(__file__).parents[2] / "examples" / "webhook" / "leitplanke.yaml"


def _error(body: bytes) -> tuple[str, str, str, str]:
    found = admission.parse_review(body)
    assert isinstance(found, admission.ReviewError)
    return (found.code, found.field, found.message, found.uid)


def test_each_bad_review_has_a_stable_code_and_names_its_field() -> None:
    head = b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", '
    assert _error(b'"text"') == (
        "not-an-object",
        "",
        "the body must be a JSON object (an AdmissionReview)",
        "",
    )
    assert _error(head + b'"request": {"uid": "u1", "operation": "PATCH", "object": {}}}') == (
        "invalid-field", "request.operation", "operation must be one of CREATE, UPDATE, DELETE, CONNECT", "u1",
    )  # fmt: skip
    assert _error(head + b'"request": {"uid": "u1", "operation": "CREATE", "object": null}}') == (
        "missing-field", "request.object", "a CREATE request needs an object", "u1",
    )  # fmt: skip
    assert _error(head + b'"request": {"uid": "u1", "operation": "CREATE", "object": {}, "dryRun": "yes"}}') == (
        "invalid-field", "request.dryRun", "request.dryRun must be true or false", "u1",
    )  # fmt: skip
    assert _error(head + b'"request": {"uid": "", "operation": "CREATE", "object": {}}}') == (
        "missing-field", "request.uid", "the request has no uid (a non-empty string)", "",
    )  # fmt: skip


def test_a_delete_review_evaluates_the_old_object() -> None:
    body = (
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u2", '
        b'"operation": "DELETE", "namespace": "shop", "object": null, '
        b'"oldObject": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}}}'
    )
    review = admission.parse_review(body)
    assert isinstance(review, admission.Review)
    assert (review.uid, review.operation, review.namespace, review.document.display) == (
        "u2", "DELETE", "shop", "Service/web",
    )  # fmt: skip
    assert review.old_object == review.document.body


def test_the_example_config_reads_without_problems() -> None:
    config, problems = configuring.load_config(EXAMPLE)
    assert problems == []
    parsed, problems = admissionmodes.parse_admission_config(config.admission, file=config.file)
    assert problems == []
    assert (parsed.mode_of("prod"), parsed.mode_of("staging"), parsed.mode_of("qa")) == (
        "enforce",
        "warn",
        "audit",
    )
    assert (parsed.failure_of("prod"), parsed.failure_of("staging")) == ("closed", "open")
    assert parsed.exempt_namespaces == ("kube-system", "leitplanke")
    assert [(e, parsed.mutates(e), parsed.allows_unsafe_fixes(e)) for e in ("prod", "staging", "dev")] == [
        ("prod", False, False),
        ("staging", True, False),
        ("dev", True, True),
    ]


def test_mutation_is_enabled_by_a_list_of_environments_or_per_environment() -> None:
    raw = {
        "environments": {"prod": "enforce", "staging": {"mode": "warn", "mutate": True}},
        "mutate": ["lab"],
        "unsafeFixes": ["lab"],
    }
    parsed, problems = admissionmodes.parse_admission_config(raw, file="l.yaml")
    assert problems == []
    assert (parsed.mutating, parsed.unsafe_fixes) == (frozenset({"staging", "lab"}), frozenset({"lab"}))
    assert parsed.mode_of("staging") == "warn"
    assert raw["environments"]["staging"] == {"mode": "warn", "mutate": True}  # the input is kept


def test_bad_mutation_settings_are_problems_naming_their_field() -> None:
    raw = {
        "environments": {"staging": {"mode": "warn", "mutate": "yes", "fixes": True}},
        "mutate": "staging",
        "unsafeFixes": [1],
    }
    parsed, problems = admissionmodes.parse_admission_config(raw, file="l.yaml")
    assert sorted((p.field, p.message) for p in problems) == [
        (
            "admission.environments.staging.fixes",
            "unknown key 'fixes': use mode, mutate, unsafeFixes, failurePolicy, budgetMs",
        ),
        ("admission.environments.staging.mutate", "mutate must be true or false, not 'yes'"),
        ("admission.mutate", "mutate must be a list of strings"),
        ("admission.unsafeFixes", "unsafeFixes must be a list of strings"),
    ]
    assert (parsed.mutating, parsed.unsafe_fixes) == (frozenset(), frozenset())


def test_bad_admission_config_entries_are_problems_naming_their_field() -> None:
    raw = {
        "default": "block",
        "environments": {"prod": "deny"},
        "failurePolicy": {"prod": "ajar"},
        "exempt": {"users": "bob"},
    }
    _, problems = admissionmodes.parse_admission_config(raw, file="l.yaml")
    assert sorted(problems) == sorted(
        [
            Problem(
                "l.yaml",
                0,
                "invalid-admission",
                "'deny' is not one of audit, warn, enforce",
                field="admission.environments.prod",
            ),
            Problem(
                "l.yaml",
                0,
                "invalid-admission",
                "'ajar' is not one of open, closed, ignore, fail",
                field="admission.failurePolicy.prod",
            ),
            Problem(
                "l.yaml",
                0,
                "invalid-admission",
                "'block' is not one of audit, warn, enforce",
                field="admission.default",
            ),
            Problem(
                "l.yaml",
                0,
                "invalid-admission",
                "exempt.users must be a list of strings",
                field="admission.exempt.users",
            ),
        ]
    )


def test_warnings_are_cut_to_256_characters_each_and_4096_in_all() -> None:
    lines = [f"policy-{i}/rule: " + "x" * 300 for i in range(30)]
    warnings = admissionmodes.render_warnings(lines)
    assert [len(w) for w in warnings[:-1]] == [256] * 15
    assert warnings[0] == lines[0][:255] + "…"
    assert warnings[-1] == "… and 15 more"
    assert sum(len(w) for w in warnings) <= 4096


def test_a_denial_lists_every_problem_until_4096_characters_then_counts_the_rest() -> None:
    assert (
        admissionmodes.render_message(["a/b: one", "c/d: two"])
        == "leitplanke: 2 problems: a/b: one; c/d: two"
    )
    lines = [f"policy-{i}/rule: " + "y" * 200 for i in range(40)]
    message = admissionmodes.render_message(lines)
    assert len(message) <= 4096
    assert message.startswith("leitplanke: 40 problems: policy-0/rule: ")
    kept = message.count("/rule: ")
    assert message.endswith(f"; … and {40 - kept} more")


def test_the_json_patch_of_a_fix_adds_removes_and_replaces_item_by_item() -> None:
    before = {"spec": {"hostNetwork": True, "containers": [{"name": "a"}, {"name": "b"}], "a/b~": 1}}
    after = {"spec": {"containers": [{"name": "a"}, {"name": "b", "x": 1}], "a/b~": 2, "n": 6}}
    assert mutating.diff(before, after) == [
        {"op": "remove", "path": "/spec/hostNetwork"},
        {"op": "add", "path": "/spec/containers/1/x", "value": 1},
        {"op": "replace", "path": "/spec/a~1b~0", "value": 2},
        {"op": "add", "path": "/spec/n", "value": 6},
    ]
    assert mutating.diff({"l": [1]}, {"l": [1, 2]}) == [{"op": "replace", "path": "/l", "value": [1, 2]}]
    assert mutating.diff(before, before) == []


def test_fix_object_applies_merge_and_remove_to_a_copy_of_a_plain_object() -> None:
    body = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"hostNetwork": True}}
    fix = {"path": "spec", "remove": ["hostNetwork"], "merge": {"securityContext": {"runAsNonRoot": True}}}
    result = Result(
        "p", "r", Resource("v1", "Pod", "", "p"), Verdict.FAIL, Severity.HIGH, "", Location("f", 1), fix
    )
    fixed, applied = fixing.fix_object(body, [result, result])
    assert fixed == {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"securityContext": {"runAsNonRoot": True}},
    }
    assert type(fixed["spec"]["securityContext"]) is dict
    assert applied == [result]  # the second time the fix changes nothing
    assert body["spec"] == {"hostNetwork": True}
