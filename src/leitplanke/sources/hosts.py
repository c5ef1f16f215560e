"""The machine leitplanke runs on, as Documents: sshd, kernel parameters and sensitive file permissions.

``leitplanke scan --host`` adds a ``HostSource``; the scan's loader calls ``load_host`` for it.
Never needs root: whatever cannot be read becomes a warning Problem and the audit goes on.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from leitplanke.core.documents import Document, SkippedInput
from leitplanke.core.problems import Level, Problem
from leitplanke.sources.configs import permissions, sshd, sysctl, texts

SENSITIVE_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/ssh/sshd_config")
SSHD_CONFIG = "/etc/ssh/sshd_config"
SYSCTL_FILES = ("/etc/sysctl.conf",)
SYSCTL_DIRECTORY = "/etc/sysctl.d"
_INTERFACE_PARAMETERS = {
    "net.ipv4.conf": (
        "accept_redirects",
        "send_redirects",
        "accept_source_route",
        "secure_redirects",
        "rp_filter",
        "log_martians",
    ),
    "net.ipv6.conf": ("accept_redirects", "accept_source_route", "accept_ra", "forwarding"),
}
# the live kernel parameters the linux pack judges (interfaces: "all" and "default", as CIS checks them)
RUNTIME_PARAMETERS = (
    "kernel.randomize_va_space",
    "kernel.dmesg_restrict",
    "kernel.kptr_restrict",
    "kernel.yama.ptrace_scope",
    "fs.protected_hardlinks",
    "fs.protected_symlinks",
    "fs.protected_fifos",
    "fs.protected_regular",
    "fs.suid_dumpable",
    "net.ipv4.ip_forward",
    "net.ipv4.icmp_echo_ignore_broadcasts",
    "net.ipv4.icmp_ignore_bogus_error_responses",
    "net.ipv4.tcp_syncookies",
    *(
        f"{prefix}.{interface}.{name}"
        for prefix, names in _INTERFACE_PARAMETERS.items()
        for interface in ("all", "default")
        for name in names
    ),
)
Output = Document | Problem | SkippedInput


@dataclass(frozen=True, slots=True)
class HostSource:
    """The host as one scan source; ``root`` is ``/`` but for tests, which point it at a fake tree."""

    root: str = "/"


def load_host(source: HostSource = HostSource(), *, hostname: str | None = None) -> Iterator[Output]:
    """sshd_config (with Includes), sysctl files and live values, and the sensitive files' permissions."""
    name = hostname or socket.gethostname() or "localhost"
    yield from _sshd(source.root)
    yield from _sysctl_files(source.root)
    yield from _sysctl_runtime(source.root, name)
    for path in SENSITIVE_FILES:
        found = permissions.read_permissions(_on(source.root, path))
        if isinstance(found, Document):
            found = _logical(found, path)
        if found is not None:
            yield found


def _on(root: str, path: str) -> str:
    return path if root == "/" else os.path.join(root, path.lstrip("/"))


def _logical(document: Document, path: str) -> Document:
    """Permissions named after the path on the host, whatever root the test tree has."""
    spec = document.body["spec"]
    return permissions.build_permissions(
        path=path,
        mode=int(spec["mode"], 8),
        uid=spec["uid"],
        gid=spec["gid"],
        owner=spec["owner"],
        group=spec["group"],
    )


def _sshd(root: str) -> Iterator[Output]:
    path = _on(root, SSHD_CONFIG)
    if not os.path.lexists(path):
        return  # no OpenSSH server installed: nothing to audit
    data = texts.read_file(path)
    if isinstance(data, Problem):
        yield _warning(data)
        return
    yield from sshd.load(path, data)


def _sysctl_files(root: str) -> Iterator[Output]:
    seen: set[str] = set()
    directory = _on(root, SYSCTL_DIRECTORY)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".conf"))
    except FileNotFoundError:
        names = []
    except OSError as exc:
        yield Problem(directory, 0, "unreadable", exc.strerror or str(exc), level=Level.WARNING)
        names = []
    # sysctl --system applies sysctl.d first, /etc/sysctl.conf last; a link to a file read is skipped
    for path in (*(os.path.join(directory, n) for n in names), *(_on(root, f) for f in SYSCTL_FILES)):
        real = os.path.realpath(path)
        if real in seen or not os.path.exists(path):
            continue
        seen.add(real)
        data = texts.read_file(path)
        if isinstance(data, Problem):
            yield _warning(data)
            continue
        yield from sysctl.load(path, data)


def _sysctl_runtime(root: str, name: str) -> Iterator[Output]:
    proc = _on(root, "/proc/sys")
    values: dict[str, str] = {}
    missing: list[str] = []
    for key in RUNTIME_PARAMETERS:
        path = os.path.join(proc, *key.split("."))
        try:
            with open(path, encoding="utf-8") as stream:
                values[key] = " ".join(stream.read().split())
        except FileNotFoundError:
            missing.append(key)
        except OSError as exc:
            yield Problem(path, 0, "unreadable", exc.strerror or str(exc), level=Level.WARNING)
    if missing:
        message = f"not provided by this kernel, left out: {', '.join(missing)}"
        yield Problem(proc, 0, "missing-parameter", message, level=Level.WARNING)
    yield sysctl.build_runtime(name=name, parameters=values, file=proc)


def _warning(problem: Problem) -> Problem:
    return Problem(problem.file, problem.line, problem.code, problem.message, level=Level.WARNING)
