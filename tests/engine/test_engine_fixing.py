"""Fixes touch only what they change: comments, order, quoting and other documents survive.

The diff says what each change does and names the file as given; unsafe fixes are chosen only
when asked for; a policy's fix says whether it is safe, or the parser says what is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leitplanke.core.policies import Fix, Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.engine import fixing, loading

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


def _result(path: str, line: int, fix: dict[str, object], rule: str = "r") -> Result:
    return Result(
        policy="p",
        rule=rule,
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


PRIVILEGED_FIX = {
    "path": "spec.template.spec.containers[0]",
    "merge": {"securityContext": {"privileged": False}},
    "remove": [],
    "safe": False,
    "description": "sets privileged to false: the container loses the host's devices",
}
PRIVILEGED_HUNK = """\
@@ -18,4 +18,4 @@
         - name: app
           image: 'nginx:1.27'
           securityContext:
-            privileged: true
+            privileged: false
"""


def test_the_diff_says_what_each_change_does_above_the_headers_of_its_file() -> None:
    outcome = fixing.fix_text(FILE, [_result("x", 20, PRIVILEGED_FIX)], file="f.yaml")

    assert outcome.diff() == (
        "# p/r (unsafe) on Deployment/web: sets privileged to false: the container loses the host's devices\n"
        "--- a/f.yaml\n"
        "+++ b/f.yaml\n" + PRIVILEGED_HUNK
    )


def test_a_relative_path_keeps_the_a_and_b_prefixes_and_an_absolute_path_is_named_as_it_is() -> None:
    assert fixing.diff_headers("manifests/web.yaml") == ("a/manifests/web.yaml", "b/manifests/web.yaml")
    assert fixing.diff_headers("./web.yaml") == ("a/./web.yaml", "b/./web.yaml")
    assert fixing.diff_headers("/srv/manifests/web.yaml") == (
        "/srv/manifests/web.yaml",
        "/srv/manifests/web.yaml",
    )
    outcome = fixing.fix_text(FILE, [_result("x", 20, PRIVILEGED_FIX)], file="/srv/f.yaml")
    assert outcome.diff().splitlines()[1:3] == ["--- /srv/f.yaml", "+++ /srv/f.yaml"]


def test_a_diff_that_changes_nothing_is_empty_even_of_its_notes() -> None:
    outcome = fixing.fix_text(FILE, [], file="f.yaml")
    assert (outcome.changed, outcome.diff()) == (False, "")


def test_a_last_line_without_newline_gets_the_marker_git_writes() -> None:
    fix = {"path": "spec.template.spec", "merge": {}, "remove": ["hostNetwork"], "safe": True}
    text = FILE.replace("      hostNetwork: true     # why was this here?\n", "") + "      hostNetwork: true"

    diff = fixing.fix_text(text, [_result("x", 21, fix)], file="f.yaml").diff()

    assert diff.endswith("-      hostNetwork: true\n\\ No newline at end of file\n")
    assert diff.splitlines()[0] == "# p/r (safe) on Deployment/web: removes hostNetwork"


def test_a_fix_its_policy_does_not_describe_is_described_by_its_patch() -> None:
    fix = {
        "merge": {
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault", "localhostProfile": None}}
        },
        "remove": ["hostPID", "hostIPC"],
    }
    assert fixing.describe(fix) == (
        "removes hostPID; removes hostIPC; sets securityContext.seccompProfile.type to "
        '"RuntimeDefault"; removes securityContext.seccompProfile.localhostProfile'
    )
    assert fixing.describe({"merge": {"tls": True}, "description": "turns TLS on"}) == "turns TLS on"


def test_only_safe_fixes_are_chosen_unless_unsafe_ones_are_asked_for() -> None:
    safe = _result("spec.backoffLimit", 14, {"merge": {"backoffLimit": 6}, "safe": True}, rule="safe")
    unsafe = _result("x", 20, PRIVILEGED_FIX, rule="unsafe")
    unsaid = _result("x", 20, {"merge": {"a": 1}}, rule="unsaid")

    assert fixing.choose([safe, unsafe, unsaid], unsafe=False) == ([safe], [unsafe, unsaid])
    assert fixing.choose([safe, unsafe, unsaid], unsafe=True) == ([safe, unsafe, unsaid], [])


NOW = datetime(2025, 6, 1, tzinfo=UTC)
POLICY = """\
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: job-retries}
spec:
  match: {kinds: [Job]}
  rules:
  - name: backoff-limit
    validate: has(object.spec.backoffLimit)
    fix:
      merge: {backoffLimit: 6}
      path: spec
      safe: true
      description: >-
        sets backoffLimit to 6,
        the default
"""


def test_a_fix_says_whether_it_is_safe_and_what_it_does() -> None:
    loaded = loading.load_text(POLICY, file="p.yaml", now=NOW)

    assert loaded.problems == []
    assert loaded.policies[0].rules[0].fix == Fix(
        merge={"backoffLimit": 6}, path="spec", safe=True, description="sets backoffLimit to 6, the default"
    )
    unsaid = POLICY.replace("      safe: true\n", "")
    assert loading.load_text(unsaid, file="p.yaml", now=NOW).policies[0].rules[0].fix == Fix(
        merge={"backoffLimit": 6}, path="spec", safe=False, description="sets backoffLimit to 6, the default"
    )


def test_a_fix_with_a_safe_that_is_not_a_boolean_or_an_unknown_key_is_an_authoring_error() -> None:
    text = POLICY.replace("safe: true", 'safe: "yes please"').replace("path: spec", "unsafe: true")

    loaded = loading.load_text(text, file="p.yaml", now=NOW)

    assert loaded.policies == []
    assert sorted((p.line, p.code, p.field, p.message) for p in loaded.problems) == [
        (
            11,
            "invalid-fix",
            "spec.rules[0].fix.unsafe",
            "spec.rules[0].fix: unknown key 'unsafe'; a fix has merge, remove, path, safe, description",
        ),
        (
            12,
            "invalid-fix",
            "spec.rules[0].fix.safe",
            "spec.rules[0].fix.safe must be true or false (true: applying the fix keeps what the workload "
            "does; false: it changes behaviour and is applied only with fix --unsafe-fixes)",
        ),
    ]
