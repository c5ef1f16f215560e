"""The rule of tests/conftest.py for an unreachable PostgreSQL: its tests skip on a developer's
machine and fail in CI (CI=true), so a broken database setup cannot pass CI silently. Each case runs
a small pytest session in a subprocess with the real conftest and LEITPLANKE_TEST_POSTGRES_URL
pointing at a closed port (only that URL is then tried)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

PROBE = """
def test_a_database_is_there(database_url):
    assert database_url
"""


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "LEITPLANKE_TEST_POSTGRES_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [re.sub(r" in [0-9.]+s$", "", line.strip("= ")) for line in done.stdout.splitlines()]
    return done.returncode, lines


def test_an_unreachable_postgresql_skips_its_tests_outside_ci(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    code, lines = _run(tmp_path, LEITPLANKE_TEST_POSTGRES_URL=url)
    assert code == 0
    assert f"SKIPPED [1] test_probe.py:2: PostgreSQL at {url} is not reachable" in lines
    assert lines[-1] == "1 passed, 1 skipped"


def test_an_unreachable_postgresql_fails_its_tests_when_ci_is_true(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    code, lines = _run(tmp_path, LEITPLANKE_TEST_POSTGRES_URL=url, CI="true")
    assert code == 1
    assert (
        f"ERROR test_probe.py::test_a_database_is_there[postgresql] - Failed: PostgreSQL at {url} is not "
        "reachable (CI=true: PostgreSQL tests fail instead of skipping)"
    ) in lines
    assert lines[-1] == "1 passed, 1 error"


def test_a_reachable_postgresql_runs_its_tests_in_ci(tmp_path: Path) -> None:
    code, lines = _run(tmp_path, CI="true")
    assert (code, lines[-1]) == (0, "2 passed")
