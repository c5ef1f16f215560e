"""Reading the text of line-oriented configuration files, and wrapping what they hold as Documents.

The messaging and Linux loaders (``kafka``, ``rabbitmq``, ``mosquitto``, ``sshd``, ``sysctl``,
``permissions``) and ``sources.hosts`` call these; bodies come from ``bodies.build_body``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leitplanke.core.documents import Document, Origin
from leitplanke.core.problems import Problem
from leitplanke.sources.configs import bodies

MAX_INCLUDED_BYTES = 16 * 1024 * 1024


def config_document(
    *,
    domain: str,
    kind: str,
    name: str,
    spec: Mapping[str, Any],
    file: str,
    lines: Mapping[str, int],
    line: int = 1,
) -> Document:
    """A ``config.leitplanke.dev/v1`` document; ``lines`` maps body paths (``spec.x``) to lines."""
    body = bodies.build_body(kind, name=name, file=file, spec=dict(spec))
    return Document(body, Origin(file, 0, line, dict(lines)), domain)


def decode(path: str, data: bytes) -> str | Problem:
    """The text of a configuration file, or a Problem that says where it stops being UTF-8."""
    if b"\0" in data[:8192]:
        return Problem(path, 0, "binary-file", "NUL bytes in the first 8 KB: not a text file")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return Problem(path, line, "not-utf8", f"invalid UTF-8 (byte 0x{data[exc.start]:02x})")


def read_file(path: str, *, max_bytes: int = MAX_INCLUDED_BYTES) -> bytes | Problem:
    """The bytes of a file a loader reads itself (an Include, the host's files), or why it could not."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        return Problem(path, 0, "unreadable", exc.strerror or str(exc))
    if len(data) > max_bytes:
        return Problem(path, 0, "too-large", f"more than the limit of {max_bytes} bytes")
    return data
