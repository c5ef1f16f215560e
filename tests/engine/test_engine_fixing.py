"""Fixes touch only what they change: comments, order, quoting and other documents survive."""

from __future__ import annotations

from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.engine import fixing

FILE = """\
# the web tier
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings   # keep me
data:
  mode: "fast"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      hostNetwork: true     # why was this here?
      containers:
        - name: app
          image: 'nginx:1.27'
          securityContext:
            privileged: true
"""


def _result(path: str, line: int, fix: dict[str, object]) -> Result:
    return Result(
        policy="p",
        rule="r",
        resource=Resource("apps/v1", "Deployment", "", "web"),
        verdict=Verdict.FAIL,
        severity=Severity.HIGH,
        message="m",
        location=Location(file="f.yaml", line=line, path=path),
        fix=fix,
    )


def test_a_merge_fix_changes_one_value_and_keeps_comments_quotes_and_indentation() -> None:
    fix = {
        "path": "spec.template.spec.containers[0]",
        "merge": {"securityContext": {"privileged": False}},
        "remove": [],
    }
    outcome = fixing.fix_text(
        FILE, [_result("spec.template.spec.containers[0].securityContext.privileged", 20, fix)], file="f.yaml"
    )
    assert outcome.fixed == FILE.replace("privileged: true", "privileged: false")
    assert len(outcome.applied) == 1


def test_a_remove_fix_deletes_the_key_and_leaves_the_other_document_byte_identical() -> None:
    fix = {"path": "spec.template.spec", "merge": {}, "remove": ["hostNetwork"]}
    outcome = fixing.fix_text(FILE, [_result("spec.template.spec.hostNetwork", 15, fix)], file="f.yaml")
    assert outcome.fixed == FILE.replace("      hostNetwork: true     # why was this here?\n", "")
    assert outcome.fixed.split("---")[0] == FILE.split("---")[0]


def test_a_fix_whose_resource_is_not_in_that_document_changes_nothing() -> None:
    fix = {"path": "spec.template.spec", "merge": {}, "remove": ["hostNetwork"]}
    wrong = _result("spec.template.spec.hostNetwork", 4, fix)  # a line inside the ConfigMap
    outcome = fixing.fix_text(FILE, [wrong], file="f.yaml")
    assert outcome.fixed == FILE and not outcome.changed and outcome.applied == []


def test_applying_the_same_fix_twice_changes_nothing_the_second_time() -> None:
    fix = {
        "path": "spec.template.spec.containers[0]",
        "merge": {"securityContext": {"privileged": False}},
        "remove": [],
    }
    result = _result("spec.template.spec.containers[0]", 20, fix)
    once = fixing.fix_text(FILE, [result], file="f.yaml")
    twice = fixing.fix_text(once.fixed, [result], file="f.yaml")
    assert not twice.changed and twice.fixed == once.fixed


def test_the_indentation_of_the_file_is_read_off_the_file() -> None:
    assert fixing.guess_indent(FILE) == (2, 4, 2)
    assert fixing.guess_indent("a:\n  b:\n  - x\n") == (2, 2, 0)


def test_the_diff_is_unified_and_names_the_file() -> None:
    fix = {
        "path": "spec.template.spec.containers[0]",
        "merge": {"securityContext": {"privileged": False}},
        "remove": [],
    }
    outcome = fixing.fix_text(FILE, [_result("x", 20, fix)], file="f.yaml")
    assert outcome.diff().splitlines()[:2] == ["--- a/f.yaml", "+++ b/f.yaml"]
    assert "-            privileged: true\n+            privileged: false\n" in outcome.diff()
