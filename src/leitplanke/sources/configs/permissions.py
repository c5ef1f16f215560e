"""Ownership and mode of sensitive files as ``FilePermissions`` documents (domain ``host``).

``sources.hosts`` calls ``read_permissions`` for each file it audits; it is not a file loader,
since what it reports is the file's metadata, not its content.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat

from leitplanke.core.documents import Document
from leitplanke.core.problems import Level, Problem
from leitplanke.sources.configs import texts

DOMAIN = "host"
KINDS = ("FilePermissions",)
_BITS = (
    (stat.S_ISUID, "setuid"),
    (stat.S_ISGID, "setgid"),
    (stat.S_ISVTX, "sticky"),
    (stat.S_IRUSR, "owner-read"),
    (stat.S_IWUSR, "owner-write"),
    (stat.S_IXUSR, "owner-execute"),
    (stat.S_IRGRP, "group-read"),
    (stat.S_IWGRP, "group-write"),
    (stat.S_IXGRP, "group-execute"),
    (stat.S_IROTH, "other-read"),
    (stat.S_IWOTH, "other-write"),
    (stat.S_IXOTH, "other-execute"),
)


def read_permissions(path: str) -> Document | Problem | None:
    """The permissions of ``path``; ``None`` when it does not exist, a warning when it cannot be read."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Problem(path, 0, "unreadable", exc.strerror or str(exc), level=Level.WARNING)
    return build_permissions(
        path=path,
        mode=stat.S_IMODE(info.st_mode),
        uid=info.st_uid,
        gid=info.st_gid,
        owner=_user(info.st_uid),
        group=_group(info.st_gid),
    )


def build_permissions(*, path: str, mode: int, uid: int, gid: int, owner: str, group: str) -> Document:
    """``mode`` as an octal string (``0640``) and as named ``bits``, which CEL can compare as a set."""
    bits = [name for bit, name in _BITS if mode & bit]
    spec = {
        "path": path,
        "mode": f"{mode:04o}",
        "bits": bits,
        "uid": uid,
        "gid": gid,
        "owner": owner,
        "group": group,
    }
    return texts.config_document(
        domain=DOMAIN, kind=KINDS[0], name=document_name(path), spec=spec, file=path, lines={}, line=0
    )


def document_name(path: str) -> str:
    """``/etc/ssh/sshd_config`` → ``etc-ssh-sshd-config``: a Kubernetes-style name that keeps the path."""
    return "-".join(part for part in path.replace("_", "-").split("/") if part).lower()


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""
