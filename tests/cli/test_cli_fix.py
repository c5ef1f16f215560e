"""``leitplanke fix``: ``--diff`` shows, says what each change does, writes nothing and exits 1 when it
would change something; without it the same change is written, the fixed rules no longer fail, and
a second run changes nothing. Unsafe fixes (they change what a workload does) are applied only with
``--unsafe-fixes``; without it they are listed, each with where it is and what it would do."""

from __future__ import annotations

import difflib
import shutil
import subprocess

BASELINE = ("--pack", "pss-baseline", "-j", "1")
UNSAFE = (*BASELINE, "--unsafe-fixes")
AGENT = "examples/bad/node-agent-deployment.yaml"
SNAPSHOT = "examples/bad/process-snapshot-cronjob.yaml"
HOST_NETWORK = (
    "disallow-host-namespaces/no-host-network (unsafe) on Deployment/monitoring/node-agent: removes "
    "hostNetwork: the pod gets a network namespace of its own, no longer listens on the node's addresses "
    "and no longer reaches services on the node's localhost"
)
PRIVILEGED = (
    "disallow-privileged-containers/no-privileged-containers (unsafe) on Deployment/monitoring/node-agent: "
    "sets securityContext.privileged to false: the container loses the host's devices and every "
    "capability beyond the runtime's default set"
)
HOST_PID = (
    "disallow-host-namespaces/no-host-pid (unsafe) on CronJob/monitoring/process-snapshot: removes hostPID: "
    "the pod no longer sees, signals or traces the node's processes"
)
AGENT_HUNK = """\
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
"""
SNAPSHOT_HUNK = """\
@@ -11,7 +11,6 @@
     spec:
       template:
         spec:
-          hostPID: true                  # BAD: shares the node's process namespace
           restartPolicy: OnFailure
           containers:
           - name: snapshot
"""
DIFF = (
    f"# {HOST_NETWORK}\n# {PRIVILEGED}\n--- a/{AGENT}\n+++ b/{AGENT}\n{AGENT_HUNK}"
    f"# {HOST_PID}\n--- a/{SNAPSHOT}\n+++ b/{SNAPSHOT}\n{SNAPSHOT_HUNK}"
)
MANUAL = "3 failing results need a human decision (see the remediation of their policy)"


def contents(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_without_unsafe_fixes_the_diff_is_empty_exits_0_and_lists_each_unsafe_fix_left_out(run_cli, examples):
    before = contents(examples / "bad")

    run = run_cli("fix", "examples/bad", "--diff", *BASELINE)

    assert (run.code, run.stdout) == (0, ""), run
    assert run.stderr_lines == [
        "3 unsafe fixes left out: they change what the workload does; review, then apply with --unsafe-fixes:",
        f"  {AGENT}:18: {HOST_NETWORK}",
        f"  {AGENT}:23: {PRIVILEGED}",
        f"  {SNAPSHOT}:14: {HOST_PID}",
        f"would apply 0 fixes in 0 files; 3 unsafe fixes left out (--unsafe-fixes applies them); {MANUAL}",
    ]
    assert contents(examples / "bad") == before


def test_fix_without_unsafe_fixes_writes_nothing_the_unsafe_fixes_would_change(run_cli, examples):
    before = contents(examples / "bad")

    run = run_cli("fix", "examples/bad", *BASELINE)

    assert (run.code, run.stdout, run.stderr_lines[-1]) == (
        0,
        "",
        f"applied 0 fixes in 0 files; 3 unsafe fixes left out (--unsafe-fixes applies them); {MANUAL}",
    )
    assert contents(examples / "bad") == before


def test_diff_with_unsafe_fixes_says_what_each_change_does_exits_1_and_writes_nothing(run_cli, examples):
    before = contents(examples / "bad")

    run = run_cli("fix", "examples/bad", "--diff", *UNSAFE)

    assert run.code == 1, run
    assert run.stdout == DIFF
    assert run.stderr_lines == [f"would apply 3 fixes in 2 files; {MANUAL}"]
    assert contents(examples / "bad") == before


def test_fix_writes_what_diff_showed_and_the_fixed_rules_no_longer_fail(run_cli, examples):
    before = contents(examples / "bad")

    run = run_cli("fix", "examples/bad", *UNSAFE)

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
    assert written == "".join(line for line in DIFF.splitlines(keepends=True) if not line.startswith("# "))
    rescan = run_cli("scan", "examples/bad", "-f", "json", *BASELINE)
    agent = ("Deployment/monitoring/node-agent", AGENT)
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


def test_the_annotated_diff_applies_with_git_apply_as_fix_would_write_it(run_cli, examples, tmp_path):
    diff = run_cli("fix", "examples/bad", "--diff", *UNSAFE).stdout
    patched = tmp_path / "patched"
    shutil.copytree(examples, patched / "examples")

    applied = subprocess.run(
        ["git", "apply", "--verbose", "-"],
        input=diff,
        cwd=patched,
        capture_output=True,
        text=True,
        check=False,
    )

    assert applied.returncode == 0, applied.stderr
    run_cli("fix", "examples/bad", *UNSAFE)
    assert contents(patched / "examples" / "bad") == contents(examples / "bad")


def test_fixing_twice_changes_nothing_the_second_time_and_the_diff_then_exits_0(run_cli, examples):
    run_cli("fix", "examples/bad", *UNSAFE)
    fixed = contents(examples / "bad")

    again = run_cli("fix", "examples/bad", *UNSAFE)

    assert (again.code, again.stdout, again.stderr_lines) == (
        0,
        "",
        [f"applied 0 fixes in 0 files; {MANUAL}"],
    )
    assert contents(examples / "bad") == fixed
    diff = run_cli("fix", "examples/bad", "--diff", *UNSAFE)
    assert (diff.code, diff.stdout) == (0, "")


def test_diff_headers_name_a_relative_path_as_given_and_an_absolute_one_without_a_prefix(run_cli, examples):
    relative = run_cli("fix", f"./{SNAPSHOT}", "--diff", *UNSAFE)
    absolute = run_cli("fix", str(examples / "bad" / "process-snapshot-cronjob.yaml"), "--diff", *UNSAFE)

    assert relative.stdout_lines[1:3] == [f"--- a/./{SNAPSHOT}", f"+++ b/./{SNAPSHOT}"]
    assert absolute.code == 1, absolute
    assert absolute.stdout == (
        f"# {HOST_PID}\n"
        f"--- {examples}/bad/process-snapshot-cronjob.yaml\n"
        f"+++ {examples}/bad/process-snapshot-cronjob.yaml\n{SNAPSHOT_HUNK}"
    )


JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: shop
spec:
  activeDeadlineSeconds: 600   # ten minutes are plenty
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: registry.example.com/migrate:1.4.2
        imagePullPolicy: IfNotPresent
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 128Mi}
"""
TTL = (
    "require-job-limits/ttl-after-finished (unsafe) on Job/shop/migrate: sets ttlSecondsAfterFinished to "
    "86400: the finished Job, its pods and their logs are deleted one day after it ends, and a GitOps tool "
    "that keeps the Job in sync may re-create and rerun it"
)
BACKOFF = (
    "require-job-limits/backoff-limit (safe) on Job/shop/migrate: sets backoffLimit to 6, the value "
    "Kubernetes uses when it is unset: the Job retries exactly as before"
)


def test_a_safe_fix_is_applied_without_the_flag_and_the_unsafe_one_beside_it_is_left_out(run_cli, write):
    job = write("jobs/migrate.yaml", JOB)

    diff = run_cli("fix", "jobs", "--diff", "--pack", "reliability", "-j", "1")
    run = run_cli("fix", "jobs", "--pack", "reliability", "-j", "1")

    assert diff.code == 1, diff
    assert diff.stdout == (
        f"# {BACKOFF}\n--- a/jobs/migrate.yaml\n+++ b/jobs/migrate.yaml\n"
        "@@ -15,3 +15,4 @@\n"
        "         resources:\n"
        "           requests: {cpu: 100m, memory: 128Mi}\n"
        "           limits: {cpu: 500m, memory: 128Mi}\n"
        "+  backoffLimit: 6\n"
    )
    assert run.stderr_lines == [
        "1 unsafe fix left out: they change what the workload does; review, then apply with --unsafe-fixes:",
        f"  jobs/migrate.yaml:6: {TTL}",
        "applied 1 fix in 1 file; 1 unsafe fix left out (--unsafe-fixes applies them); "
        "0 failing results need a human decision (see the remediation of their policy)",
    ]
    assert job.read_text() == JOB + "  backoffLimit: 6\n"
    unsafe = run_cli("fix", "jobs", "--pack", "reliability", "-j", "1", "--unsafe-fixes")
    assert unsafe.stderr_lines == [
        "applied 1 fix in 1 file; 0 failing results need a human decision (see the remediation of their policy)"
    ]
    assert job.read_text() == JOB + "  backoffLimit: 6\n  ttlSecondsAfterFinished: 86400\n"
