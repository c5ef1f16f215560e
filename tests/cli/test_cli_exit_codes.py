"""Exit codes of ``leitplanke scan``: 0 clean, 1 failing at or above ``--fail-on``, 2 usage or policy error."""

from __future__ import annotations

import pytest

BASELINE = ("--pack", "pss-baseline", "-j", "1")
RAN = "leitplanke: 12 policies: 12 from packs pss-baseline"  # the note of what ran, on stderr


def test_a_clean_scan_exits_0_and_says_that_nothing_failed(run_cli, examples):
    run = run_cli("scan", "examples/good", *BASELINE)

    assert run.code == 0, run
    assert run.stdout_lines[0] == "No failed, warning or error checks."
    assert run.stderr_lines == [RAN]


def test_failing_results_at_the_default_threshold_exit_1(run_cli, examples):
    run = run_cli("scan", "examples/bad", *BASELINE)

    assert run.code == 1, run


# examples/bad holds critical, high and medium failures; tuned-pod.yaml only a medium one and
# process-snapshot-cronjob.yaml only a high one, so each threshold is seen on both sides
@pytest.mark.parametrize(
    ("path", "fail_on", "code"),
    [
        ("examples/bad", "critical", 1),
        ("examples/bad/process-snapshot-cronjob.yaml", "critical", 0),
        ("examples/bad/process-snapshot-cronjob.yaml", "high", 1),
        ("examples/bad/tuned-pod.yaml", None, 0),
        ("examples/bad/tuned-pod.yaml", "high", 0),
        ("examples/bad/tuned-pod.yaml", "medium", 1),
        ("examples/bad/tuned-pod.yaml", "info", 1),
    ],
)
def test_only_failures_at_or_above_fail_on_make_the_scan_fail(run_cli, examples, path, fail_on, code):
    threshold = ("--fail-on", fail_on) if fail_on else ()

    run = run_cli("scan", path, *BASELINE, *threshold)

    assert run.code == code, run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("examples/good", "-f", "xml"),
            "leitplanke: unknown format 'xml'; use one of table, json, sarif, junit, policyreport",
        ),
        (
            ("examples/good", "--fail-on", "severe"),
            "leitplanke: --fail-on 'severe': use critical, high, medium, low or info",
        ),
        (("examples/nowhere",), "leitplanke: examples/nowhere: no such file or directory"),
        (
            ("examples/good", "-o", "missing-folder/report.json"),
            "leitplanke: missing-folder/report.json: cannot write the report: No such file or directory",
        ),
    ],
)
def test_a_usage_error_exits_2_with_one_line_that_says_what_is_wrong(run_cli, examples, args, message):
    run = run_cli("scan", *args, *BASELINE)

    assert (run.code, run.stdout, run.stderr_lines) == (2, "", [message])


def test_an_unknown_pack_exits_2_naming_the_known_ones(run_cli, examples, repo):
    known = sorted(d.name for d in (repo / "src" / "leitplanke" / "packs").iterdir() if d.is_dir())

    run = run_cli("scan", "examples/good", "--pack", "pss-basline", "-j", "1")

    assert (run.code, run.stdout) == (2, "")
    assert run.stderr_lines == [
        f"pss-basline: error unknown-pack: no built-in pack 'pss-basline'; known: {', '.join(known)}"
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("scan", "--bogus"), "Error: No such option: --bogus"),
        (("scan", "-j", "many"), "Error: Invalid value for '--jobs' / '-j': "),
    ],
)
def test_a_bad_option_is_a_usage_error_not_an_internal_one(run_cli, args, error):
    run = run_cli(*args)

    assert run.code == 2, run
    assert "Traceback" not in run.stderr
    assert run.stderr_lines[0].endswith(" scan [OPTIONS] [paths]...")  # after the program's name
    assert run.stderr_lines[-1].startswith(error)


def test_no_arguments_at_all_print_the_help_and_exit_2(run_cli):
    run = run_cli()

    assert run.code == 2, run
    assert "Traceback" not in run.stderr
    shown = run.stdout + run.stderr
    assert all(f" {command} " in shown for command in ("scan", "test", "fix", "policies", "version"))
