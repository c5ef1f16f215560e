"""OpenSSH ``sshd_config`` into an ``SshdConfig`` document, ``Include`` resolved and ``Match`` kept.

``configs.LOADERS`` and ``sources.hosts`` call ``load``. Keywords are lower-cased (sshd reads
them case-insensitively); the first value of a keyword wins, as in sshd. Settings that come from
an included file point at the ``Include`` line of the file that was scanned.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.documents import Document, SkippedInput, join_path
from leitplanke.core.problems import Problem
from leitplanke.sources.configs import bodies, texts

DOMAIN = "sshd"
KINDS = ("SshdConfig",)
SSH_DIRECTORY = "/etc/ssh"
MAX_INCLUDE_DEPTH = 16
_LINE = re.compile(r"^(?P<keyword>[A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(?P<value>.*?)\s*$")
_HINTS = re.compile(
    rb"^[ \t]*(?:PermitRootLogin|PasswordAuthentication|Subsystem|UsePAM|ChallengeResponse)", re.I | re.M
)
# keywords sshd accumulates instead of keeping the first value
_REPEATABLE = frozenset(
    [
        "acceptenv",
        "allowgroups",
        "allowusers",
        "denygroups",
        "denyusers",
        "hostcertificate",
        "hostkey",
        "listenaddress",
        "port",
        "setenv",
        "subsystem",
    ]
)


def recognises(path: str, head: bytes) -> bool:
    """``sshd_config``, a ``.conf`` file in ``sshd_config.d``, or ``sshd_config*`` with its keywords."""
    name = os.path.basename(path)
    if name == "sshd_config" or (name.endswith(".conf") and "sshd_config.d" in path):
        return True
    return name.startswith("sshd_config") and _HINTS.search(head) is not None


@dataclass(slots=True)
class _Block:
    """The global settings or one Match block, while the file is read."""

    settings: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    criteria: str = ""
    line: int = 0

    def set(self, keyword: str, value: str, line: int) -> None:
        if keyword in _REPEATABLE:
            self.settings.setdefault(keyword, []).append(value)
            self.lines.setdefault(keyword, line)
        elif keyword not in self.settings:
            self.settings[keyword] = value
            self.lines[keyword] = line


@dataclass(slots=True)
class _Reading:
    root: str
    blocks: list[_Block]
    current: int = 0  # the block that settings go to: 0 is global
    includes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def load(path: str, data: bytes) -> Iterator[Document | Problem | SkippedInput]:
    text = texts.decode(path, data)
    if isinstance(text, Problem):
        yield text
        return
    reading = _Reading(root=path, blocks=[_Block()])
    _read(reading, path, text, stack=(os.path.realpath(path),), at_line=0)
    yield from reading.problems
    yield _document(path, reading)


def included_files(path: str, data: bytes) -> tuple[str, ...]:
    """Every file the ``Include`` lines of ``path`` pull in, through nested Includes too."""
    text = texts.decode(path, data)
    if isinstance(text, Problem):
        return ()
    reading = _Reading(root=path, blocks=[_Block()])
    _read(reading, path, text, stack=(os.path.realpath(path),), at_line=0)
    return tuple(reading.includes)


def _read(reading: _Reading, file: str, text: str, *, stack: tuple[str, ...], at_line: int) -> None:
    """Read one file into ``reading``; ``at_line`` is the root file's Include line (0 for the root)."""
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        found = _LINE.match(stripped)
        line = at_line or number
        if found is None:
            reading.problems.append(
                Problem(file, number, "sshd-syntax", f"expected 'Keyword value': {stripped[:60]!r}")
            )
            continue
        keyword, value = found["keyword"].lower(), found["value"].strip('"')
        if keyword == "match":
            reading.blocks.append(_Block(criteria=value, line=line))
            reading.current = len(reading.blocks) - 1
        elif keyword == "include":
            outer = reading.current
            _include(reading, file, value, stack=stack, line=line, number=number)
            reading.current = outer  # an included file's Match blocks end with it
        else:
            reading.blocks[reading.current].set(keyword, value, line)


def _include(
    reading: _Reading, file: str, value: str, *, stack: tuple[str, ...], line: int, number: int
) -> None:
    base = SSH_DIRECTORY if os.path.dirname(os.path.abspath(reading.root)) == SSH_DIRECTORY else None
    for pattern in value.split():
        if not os.path.isabs(pattern):
            pattern = os.path.join(base or os.path.dirname(os.path.abspath(file)), pattern)
        for included in sorted(glob.glob(pattern)):
            real = os.path.realpath(included)
            if real in stack:
                chain = " -> ".join((*stack, real))
                reading.problems.append(Problem(file, number, "include-loop", f"Include loop: {chain}"))
                continue
            if len(stack) >= MAX_INCLUDE_DEPTH:
                reading.problems.append(
                    Problem(
                        file, number, "include-too-deep", f"more than {MAX_INCLUDE_DEPTH} nested Includes"
                    )
                )
                continue
            data = texts.read_file(included)
            text = data if isinstance(data, Problem) else texts.decode(included, data)
            if isinstance(text, Problem):
                reading.problems.append(Problem(file, number, text.code, f"{included}: {text.message}"))
                continue
            reading.includes.append(included)
            _read(reading, included, text, stack=(*stack, real), at_line=line)


def _document(path: str, reading: _Reading) -> Document:
    main, *matches = reading.blocks
    lines = {join_path("spec.settings", k): line for k, line in main.lines.items()}
    for index, block in enumerate(matches):
        lines[f"spec.matches[{index}]"] = block.line
        lines.update({join_path(f"spec.matches[{index}].settings", k): ln for k, ln in block.lines.items()})
    spec = {
        "settings": main.settings,
        "matches": [{"criteria": block.criteria, "settings": block.settings} for block in matches],
        "includes": reading.includes,
    }
    return texts.config_document(
        domain=DOMAIN,
        kind=KINDS[0],
        name=bodies.file_name(path),
        spec=spec,
        file=path,
        lines=lines,
        line=min(lines.values(), default=1),
    )
