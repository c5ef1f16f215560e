"""``leitplanke scan -``: manifests piped in are scanned as one input named ``<stdin>``."""

from __future__ import annotations

BASELINE = ("--pack", "pss-baseline", "-j", "1")


def test_piped_manifests_fail_the_same_checks_at_the_same_lines_as_the_files(run_cli, examples, bad_findings):
    stream, offsets = b"", {}
    for path in sorted((examples / "bad").glob("*.yaml")):
        stream += b"---\n"  # each file its own document, as `kubectl apply -f -` needs too
        offsets[f"examples/bad/{path.name}"] = stream.count(b"\n")
        stream += path.read_bytes()

    run = run_cli("scan", "-", "-f", "json", *BASELINE, stdin=stream)

    assert run.code == 1, run
    assert run.findings("fail") == {
        (policy, rule, resource, "<stdin>", line + offsets[file], path)
        for policy, rule, resource, file, line, path in bad_findings
    }
    assert run.json()["skipped"] == [
        {
            "file": "<stdin>",
            "index": 0,
            "line": offsets["examples/bad/app-config.yaml"] + 3,
            "reason": "not-kubernetes",
        }
    ]


def test_files_piped_without_a_document_marker_are_one_document_and_each_repeated_key_is_warned(
    run_cli, write
):
    first = write(
        "a.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: privileged}
        spec:
          containers: [{name: a, image: a:1, securityContext: {privileged: true}}]
        """,
    )
    second = write(
        "b.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: plain}
        spec:
          containers: [{name: b, image: b:1}]
        """,
    )

    run = run_cli("scan", "-", "-f", "json", *BASELINE, stdin=first.read_bytes() + second.read_bytes())

    # as YAML (and kubectl) read it: the later keys win, so only the second pod is left to check
    assert run.code == 0, run
    assert {resource for _, _, resource, _ in run.verdicts()} == {"Pod/plain"}
    assert [(p["line"], p["code"], p["field"], p["level"]) for p in run.json()["problems"]] == [
        (6, "duplicate-key", "apiVersion", "warning"),
        (7, "duplicate-key", "kind", "warning"),
        (8, "duplicate-key", "metadata", "warning"),
        (9, "duplicate-key", "spec", "warning"),
    ]


def test_empty_stdin_is_a_clean_scan_of_nothing(run_cli):
    run = run_cli("scan", "-", *BASELINE)

    assert (run.code, run.stdout_lines[-1]) == (
        0,
        "0 resources, 0 checks: 0 passed, 0 failed, 0 warnings, 0 errors, 0 skipped; 0 problems",
    )
