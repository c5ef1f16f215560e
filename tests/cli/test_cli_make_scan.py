"""``make scan`` says what the scan's exit code means instead of ignoring it: 0 and 1 (examples/bad
fails on purpose) end the target well, 2 and above fail it with that code."""

from __future__ import annotations

import shutil
import subprocess

import pytest


@pytest.fixture
def fake_venv(tmp_path):
    """A venv whose ``leitplanke`` exits with ``$EXIT``: the Makefile's recipe alone is under test."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    (tmp_path / "bin").mkdir()
    command = tmp_path / "bin" / "leitplanke"
    command.write_text('#!/bin/sh\necho "leitplanke $*"\nexit "$EXIT"\n')
    command.chmod(0o755)
    (tmp_path / ".installed").touch()  # newer than pyproject.toml: nothing is installed
    return tmp_path


@pytest.mark.parametrize(
    ("code", "said", "make_code"),
    [
        (0, "make scan: exit 0, nothing failing at or above --fail-on", 0),
        (1, "make scan: exit 1, failing results at or above --fail-on (examples/bad is bad on purpose)", 0),
        (2, "make scan: exit 2, a usage or policy error (see above)", 2),
        (4, "make scan: exit 4 (see README, exit codes)", 2),
    ],
)
def test_make_scan_reports_the_exit_code_in_words(repo, fake_venv, code, said, make_code):
    run = subprocess.run(
        ["make", "--no-print-directory", "scan", f"VENV={fake_venv}"],
        cwd=repo,
        env={"PATH": "/usr/bin:/bin", "EXIT": str(code)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.stdout.splitlines() == [
        "leitplanke: scanning the bundled examples with the default packs",
        "leitplanke scan examples",
        said,
    ]
    assert run.returncode == make_code
    assert "ignored" not in run.stderr
