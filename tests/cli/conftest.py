"""End-to-end tests of the ``leitplanke`` command: the real CLI in a subprocess, as a shell or CI runs it.

``run_cli(*args)`` runs ``python -m leitplanke.cli`` in the test's ``tmp_path`` (so no
``leitplanke.yaml`` of the checkout is picked up) and returns exit code, stdout, stderr and the
peak memory of the process.
Fixtures are written into ``tmp_path`` by the tests themselves.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).parents[2]
SHARED = REPO.parent / "shared"
# settings of the caller's terminal that rich and click would follow: a CI runner may set them
TERMINAL_VARIABLES = ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "COLUMNS", "LINES")

# (policy, rule, resource as Kind/namespace/name, file, line, path): what a user acts on
Finding = tuple[str, str, str, str, int, str]


@dataclass(frozen=True, slots=True, repr=False)
class CliRun:
    """One finished run of the command."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    max_rss: int  # bytes, the peak resident memory of the process

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def stdout_lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def verdicts(self) -> set[tuple[str, str, str, str]]:
        """(policy, rule, resource, verdict) of every result of a ``-f json`` report."""
        return {
            (r["policy"], r["rule"], display(r["resource"]), r["verdict"]) for r in self.json()["results"]
        }

    def findings(self, *verdicts: str) -> set[Finding]:
        """The results of a ``-f json`` report with one of ``verdicts`` (default: ``fail``)."""
        return findings_of(self.json(), *verdicts)

    def __repr__(self) -> str:  # what pytest shows when an assertion on a run fails
        return f"leitplanke {' '.join(self.args)} → {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def findings_of(report: dict[str, Any], *verdicts: str) -> set[Finding]:
    wanted = set(verdicts or ("fail",))
    return {
        (
            r["policy"],
            r["rule"],
            display(r["resource"]),
            r["location"]["file"],
            r["location"]["line"],
            r["location"]["path"],
        )
        for r in report["results"]
        if r["verdict"] in wanted
    }


def display(resource: dict[str, str]) -> str:
    namespace = f"{resource['namespace']}/" if resource["namespace"] else ""
    return f"{resource['kind']}/{namespace}{resource['name']}"


@pytest.fixture(name="findings_of")
def findings_of_fixture() -> Callable[..., set[Finding]]:
    """``findings_of(report, *verdicts)`` for a JSON report read from a file."""
    return findings_of


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., CliRun]:
    """``run_cli(*args, cwd=tmp_path, stdin=b"", env={})``: the command's exit code, output and peak
    memory; ``env`` adds to (or, with None values, removes from) the environment of the run."""
    serial = itertools.count()
    environment = {name: value for name, value in os.environ.items() if name not in TERMINAL_VARIABLES}

    def run(
        *args: str,
        cwd: Path | None = None,
        stdin: bytes = b"",
        timeout: float = 120,
        env: dict[str, str | None] | None = None,
    ) -> CliRun:
        io = tmp_path.parent / f"{tmp_path.name}-io-{next(serial)}"  # beside tmp_path: never scanned
        io.mkdir()
        (io / "stdin").write_bytes(stdin)
        with (
            (io / "stdin").open("rb") as given,
            (io / "stdout").open("wb") as out,
            (io / "stderr").open("wb") as err,
        ):
            process = subprocess.Popen(
                [sys.executable, "-m", "leitplanke.cli", *args],
                cwd=cwd or tmp_path,
                env=_with(environment, env or {}),
                stdin=given,
                stdout=out,
                stderr=err,
            )
        status, usage = _wait(process, timeout)
        return CliRun(
            args=args,
            code=os.waitstatus_to_exitcode(status),
            stdout=(io / "stdout").read_text(encoding="utf-8"),
            stderr=(io / "stderr").read_text(encoding="utf-8"),
            max_rss=usage.ru_maxrss * 1024,
        )

    return run


def _with(environment: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    changed = {**environment, **changes}
    return {name: value for name, value in changed.items() if value is not None}


def _wait(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, resource.struct_rusage]:
    """Reap the process with ``wait4``: its own peak memory, not that of every child of pytest."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
            return status, usage
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"leitplanke {' '.join(map(str, process.args))} ran longer than {timeout} s")
        time.sleep(0.005)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """``write("dir/file.yaml", text)``: a file below ``tmp_path``; text is dedented."""

    def write_file(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return path

    return write_file


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of the bundled ``examples/`` in ``tmp_path``: scanned as ``examples/...``, fixed in place."""
    target = tmp_path / "examples"
    shutil.copytree(REPO / "examples", target)
    return target


@pytest.fixture
def repo() -> Path:
    """The checkout: ``examples/``, ``src/leitplanke/packs``."""
    return REPO


@pytest.fixture
def shared() -> Path:
    """``../shared`` beside the checkout, or a skip that says where it was looked for."""
    if not SHARED.is_dir():
        pytest.skip(f"the shared data is not checked out at {SHARED}")
    return SHARED


@pytest.fixture
def bad_findings() -> set[Finding]:
    """The failing results of pss-baseline on ``examples/bad``, each line checked against the file."""
    agent = ("Deployment/monitoring/node-agent", "examples/bad/node-agent-deployment.yaml")
    pod = "spec.template.spec"
    return {
        ("disallow-host-namespaces", "no-host-network", *agent, 18, f"{pod}.hostNetwork"),
        (
            "disallow-privileged-containers",
            "no-privileged-containers",
            *agent,
            23,
            f"{pod}.containers[0].securityContext.privileged",
        ),
        (
            "restrict-added-capabilities",
            "baseline-capabilities-only",
            *agent,
            25,
            f"{pod}.containers[0].securityContext.capabilities.add",
        ),
        ("disallow-host-path", "no-host-path-volumes", *agent, 32, f"{pod}.volumes[0].hostPath"),
        (
            "disallow-host-namespaces",
            "no-host-pid",
            "CronJob/monitoring/process-snapshot",
            "examples/bad/process-snapshot-cronjob.yaml",
            14,
            "spec.jobTemplate.spec.template.spec.hostPID",
        ),
        (
            "restrict-sysctls",
            "safe-sysctls-only",
            "Pod/default/tuned-cache",
            "examples/bad/tuned-pod.yaml",
            14,
            "spec.securityContext.sysctls[1].name",
        ),
    }


@pytest.fixture
def baseline_rules() -> set[tuple[str, str]]:
    """Every (policy, rule) of the pss-baseline pack: what a compliant pod passes."""
    return {
        ("disallow-host-namespaces", "no-host-ipc"),
        ("disallow-host-namespaces", "no-host-network"),
        ("disallow-host-namespaces", "no-host-pid"),
        ("disallow-host-path", "no-host-path-volumes"),
        ("disallow-host-ports", "no-host-ports"),
        ("disallow-host-process", "no-host-process-containers"),
        ("disallow-host-process", "no-host-process-pod"),
        ("disallow-privileged-containers", "no-privileged-containers"),
        ("disallow-probe-and-lifecycle-hosts", "no-lifecycle-host"),
        ("disallow-probe-and-lifecycle-hosts", "no-probe-host"),
        ("require-default-proc-mount", "default-proc-mount"),
        ("restrict-added-capabilities", "baseline-capabilities-only"),
        ("restrict-apparmor-profiles", "apparmor-annotations"),
        ("restrict-apparmor-profiles", "apparmor-container-profiles"),
        ("restrict-apparmor-profiles", "apparmor-pod-profile"),
        ("restrict-seccomp-profiles", "seccomp-annotations"),
        ("restrict-seccomp-profiles", "seccomp-container-profiles"),
        ("restrict-seccomp-profiles", "seccomp-pod-profile"),
        ("restrict-selinux-options", "selinux-container-types"),
        ("restrict-selinux-options", "selinux-container-user-role"),
        ("restrict-selinux-options", "selinux-pod-type"),
        ("restrict-selinux-options", "selinux-pod-user-role"),
        ("restrict-sysctls", "safe-sysctls-only"),
    }
