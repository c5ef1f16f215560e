"""``leitplanke fix``: ``--diff`` shows and writes nothing; without it the same change is written, the
fixed rules no longer fail, and a second run changes nothing."""

from __future__ import annotations

import difflib

BASELINE = ("--pack", "pss-baseline", "-j", "1")
DIFF = """\
--- a/examples/bad/node-agent-deployment.yaml
+++ b/examples/bad/node-agent-deployment.yaml
@@ -15,12 +15,11 @@
       labels:
         app: node-agent
     spec:
-      hostNetwork: true                  # BAD: shares the node's network namespace
       containers:
       - name: agent
         image: registry.example.com/node-agent:0.9.0
         securityContext:
-          privileged: true               # BAD: full access to the node
+          privileged: false              # BAD: full access to the node
           capabilities:
             add: [SYS_ADMIN]             # BAD: not in the baseline capability set
         volumeMounts:
--- a/examples/bad/process-snapshot-cronjob.yaml
+++ b/examples/bad/process-snapshot-cronjob.yaml
@@ -11,7 +11,6 @@
     spec:
       template:
         spec:
-          hostPID: true                  # BAD: shares the node's process namespace
           restartPolicy: OnFailure
           containers:
           - name: snapshot
"""
MANUAL = "3 failing results need a human decision (see the remediation of their policy)"


def contents(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_diff_prints_the_unified_diff_and_writes_nothing(run_cli, examples):
    before = contents(examples / "bad")

    run = run_cli("fix", "examples/bad", "--diff", *BASELINE)

    assert run.code == 0, run
    assert run.stdout == DIFF
    assert run.stderr_lines == [f"would apply 3 fixes in 2 files; {MANUAL}"]
    assert contents(examples / "bad") == before


def test_fix_writes_what_diff_showed_and_the_fixed_rules_no_longer_fail(run_cli, examples):
    before = contents(examples / "bad")

    run = run_cli("fix", "examples/bad", *BASELINE)

    assert (run.code, run.stdout, run.stderr_lines) == (0, "", [f"applied 3 fixes in 2 files; {MANUAL}"])
    after = contents(examples / "bad")
    written = "".join(
        "".join(
            difflib.unified_diff(
                before[name].decode().splitlines(keepends=True),
                after[name].decode().splitlines(keepends=True),
                f"a/examples/bad/{name}",
                f"b/examples/bad/{name}",
            )
        )
        for name in sorted(before)
    )
    assert written == DIFF
    rescan = run_cli("scan", "examples/bad", "-f", "json", *BASELINE)
    agent = ("Deployment/monitoring/node-agent", "examples/bad/node-agent-deployment.yaml")
    assert rescan.findings("fail") == {
        # one line up: the hostNetwork line above them is gone
        (
            "restrict-added-capabilities",
            "baseline-capabilities-only",
            *agent,
            24,
            "spec.template.spec.containers[0].securityContext.capabilities.add",
        ),
        ("disallow-host-path", "no-host-path-volumes", *agent, 31, "spec.template.spec.volumes[0].hostPath"),
        (
            "restrict-sysctls",
            "safe-sysctls-only",
            "Pod/default/tuned-cache",
            "examples/bad/tuned-pod.yaml",
            14,
            "spec.securityContext.sysctls[1].name",
        ),
    }


def test_fixing_twice_changes_nothing_the_second_time(run_cli, examples):
    run_cli("fix", "examples/bad", *BASELINE)
    fixed = contents(examples / "bad")

    again = run_cli("fix", "examples/bad", *BASELINE)

    assert (again.code, again.stdout, again.stderr_lines) == (
        0,
        "",
        [f"applied 0 fixes in 0 files; {MANUAL}"],
    )
    assert contents(examples / "bad") == fixed
    assert run_cli("fix", "examples/bad", "--diff", *BASELINE).stdout == ""
