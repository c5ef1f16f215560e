"""Kernel parameters: ``sysctl.conf``/``sysctl.d`` files into ``SysctlConfig`` documents.

``configs.LOADERS`` dispatches files here; ``sources.hosts`` builds the ``SysctlRuntime``
document of the live values with ``build_runtime``. Keys are dotted as ``sysctl -a`` prints
them (``net/ipv4/conf/eth0.100/rp_filter`` becomes ``net.ipv4.conf.eth0/100.rp_filter``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping

from leitplanke.core.documents import Document, SkippedInput, join_path
from leitplanke.core.problems import Problem
from leitplanke.sources.configs import bodies, texts

DOMAIN = "sysctl"
KINDS = ("SysctlConfig", "SysctlRuntime")
_SEPARATOR = re.compile(r"[./]")
_SWAP = str.maketrans("./", "/.")
_SETTING = re.compile(r"^-?(?P<key>[A-Za-z0-9_.*/\-]+)\s*=\s*(?P<value>.*?)\s*$")


def recognises(path: str, head: bytes) -> bool:
    """``sysctl.conf``, or a ``.conf`` file in a ``sysctl.d`` directory."""
    name = os.path.basename(path)
    return name == "sysctl.conf" or (
        name.endswith(".conf") and os.path.basename(os.path.dirname(path)) == "sysctl.d"
    )


def load(path: str, data: bytes) -> Iterator[Document | Problem | SkippedInput]:
    text = texts.decode(path, data)
    if isinstance(text, Problem):
        yield text
        return
    parameters, lines, problems = parse_sysctl(text, file=path)
    yield from problems
    yield texts.config_document(
        domain=DOMAIN,
        kind=KINDS[0],
        name=bodies.file_name(path),
        spec=_spec(parameters),
        file=path,
        lines=_lines(lines),
        line=min(lines.values(), default=1),
    )


def parse_sysctl(text: str, *, file: str) -> tuple[dict[str, str], dict[str, int], list[Problem]]:
    """Parameters (the last setting of a key wins, as ``sysctl --system`` applies them) and lines."""
    parameters: dict[str, str] = {}
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        found = _SETTING.match(stripped)
        if found is None:
            problems.append(
                Problem(file, number, "sysctl-syntax", f"expected 'key = value': {stripped[:60]!r}")
            )
            continue
        key = normal_key(found["key"])
        parameters[key] = found["value"]
        lines[key] = number
    return parameters, lines, problems


def normal_key(key: str) -> str:
    """The dotted name ``sysctl -a`` prints: ``net/ipv4/ip_forward`` is ``net.ipv4.ip_forward``.

    As sysctl(8) reads a key, its first separator says which form it is in; in the slash form a
    dot belongs to a name (the VLAN interface ``eth0.100``), and the dotted form writes that dot
    as a slash: ``net/ipv4/conf/eth0.100/rp_filter`` is ``net.ipv4.conf.eth0/100.rp_filter``, so
    an interface name never contains the separator.
    """
    first = _SEPARATOR.search(key)
    if first is None or first[0] == ".":
        return key
    return key.translate(_SWAP)


def build_runtime(*, name: str, parameters: Mapping[str, str], file: str = "/proc/sys") -> Document:
    """The live values read from ``/proc/sys``; a parameter the kernel lacks is simply absent."""
    return texts.config_document(
        domain=DOMAIN, kind=KINDS[1], name=name, spec=_spec(parameters), file=file, lines={}, line=0
    )


def _spec(parameters: Mapping[str, str]) -> dict[str, object]:
    """``parameters`` to look a key up, and ``entries`` (name, value) for rules that walk patterns."""
    entries = [{"name": key, "value": value} for key, value in parameters.items()]
    return {"parameters": dict(parameters), "entries": entries}


def _lines(lines: Mapping[str, int]) -> dict[str, int]:
    found = {join_path("spec.parameters", key): line for key, line in lines.items()}
    found.update({f"spec.entries[{index}]": line for index, line in enumerate(lines.values())})
    return found
