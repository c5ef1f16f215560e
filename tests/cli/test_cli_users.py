"""``leitplanke users put|list`` (real CLI processes on a SQLite database): a portal user is created with
a password from standard input, listed without any secret, and a short password is refused with exit 2;
``db seed-demo`` prints the demo users' passwords, which sign in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from leitplanke.governance import auditkeys, portalusers
from leitplanke.store import databases

SRC = Path(__file__).parents[2] / "src"  # the processes run this checkout's code
EXAMPLES = Path(__file__).parents[2] / "examples"


def _run(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEITPLANKE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_users_are_put_listed_and_the_demo_users_sign_in_with_the_printed_passwords(tmp_path: Path) -> None:
    seeded = _run(["db", "seed-demo", "--examples", str(EXAMPLES)], tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    printed = re.findall(r"portal user (\w+) / password (\S+)  \((.+)\)", seeded.stdout)
    assert [(login, role) for login, _, role in printed] == [
        ("alice", "developer of team-platform"),
        ("bob", "approver of team-platform"),
        ("carol", "platform-admin"),
    ]
    put = _run(
        ["users", "put", "dave", "--role", "viewer", "--team", "team-shop", "--password-stdin"],
        tmp_path,
        "a long new password\n",
    )
    assert (put.returncode, put.stdout) == (0, "portal user dave (viewer of team-shop)\n")
    short = _run(
        ["users", "put", "eve", "--role", "viewer", "--team", "team-shop", "--password-stdin"],
        tmp_path,
        "short\n",
    )
    assert (short.returncode, short.stderr) == (2, "leitplanke: a password has 12 to 1024 characters\n")
    listed = _run(["users", "list"], tmp_path)
    assert listed.stdout.splitlines() == [
        "alice\tuser:alice\tdeveloper\tteam-platform",
        "bob\tuser:bob\tapprover\tteam-platform",
        "carol\tuser:carol\tplatform-admin\t-",
        "dave\tuser:dave\tviewer\tteam-shop",
    ]
    data = tmp_path / "data"
    keys = auditkeys.load_audit_keys(
        key_file=data / "audit" / "hmac.key",
        signing_key_file=data / "audit" / "signing-key.pem",
        checkpoint_dir=data / "audit" / "checkpoints",
    )
    database = databases.Database(f"sqlite:///{data / 'leitplanke.db'}", audit=keys)
    try:
        assert [
            portalusers.check_password(database, login=login, password=password) is not None
            for login, password, _ in printed
        ] == [True, True, True]
        assert portalusers.check_password(database, login="dave", password="a long new password") is not None
    finally:
        database.dispose()
