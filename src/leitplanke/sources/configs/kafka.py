"""Kafka broker ``server.properties`` files into ``KafkaBrokerConfig`` documents.

Read with ``javaproperties`` (continuation lines, escapes); ``configs.LOADERS`` dispatches here.
The body keeps every property as written and adds the listeners with their security protocol.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from leitplanke.core.documents import Document, SkippedInput, join_path
from leitplanke.core.problems import Level, Problem
from leitplanke.sources.configs import bodies, texts

DOMAIN = "kafka"
KINDS = ("KafkaBrokerConfig",)
_BROKER_KEYS = re.compile(
    rb"^[ \t]*(?:broker\.id|node\.id|process\.roles|log\.dirs|zookeeper\.connect|listeners"
    rb"|advertised\.listeners|num\.partitions)[ \t]*[=:]",
    re.MULTILINE,
)
_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_LISTENER = re.compile(r"^(?P<name>[A-Za-z0-9_]+)://(?P<host>\[[^\]]*\]|[^:]*):(?P<port>\d+)$")


def recognises(path: str, head: bytes) -> bool:
    """A ``.properties`` file with broker settings (``broker.id``, ``listeners``, ``log.dirs``, …)."""
    return path.lower().endswith(".properties") and _BROKER_KEYS.search(head) is not None


def load(path: str, data: bytes) -> Iterator[Document | Problem | SkippedInput]:
    text = texts.decode(path, data)
    if isinstance(text, Problem):
        yield text
        return
    properties, lines, problem = parse_properties(text, file=path)
    if problem is not None:
        yield problem
        return
    yield from _problems_of_listeners(properties, lines, path)
    spec = {"properties": properties, "listeners": listeners_of(properties)}
    body_lines = {join_path("spec.properties", key): line for key, line in lines.items()}
    listener_line = lines.get("listeners", 0)
    for index in range(len(spec["listeners"])):
        body_lines[f"spec.listeners[{index}]"] = listener_line
    yield texts.config_document(
        domain=DOMAIN,
        kind=KINDS[0],
        name=bodies.file_name(path),
        spec=spec,
        file=path,
        lines=body_lines,
        line=min(lines.values(), default=1),
    )


def parse_properties(text: str, *, file: str) -> tuple[dict[str, str], dict[str, int], Problem | None]:
    """Properties (the last of a repeated key wins, as ``java.util.Properties``) and their lines."""
    import javaproperties  # loaded with the first properties file: most scans have none

    properties: dict[str, str] = {}
    lines: dict[str, int] = {}
    line = 1
    try:
        for element in javaproperties.parse(text):
            if isinstance(element, javaproperties.KeyValue):
                properties[element.key] = element.value
                lines[element.key] = line
            line += element.source.count("\n")
    except ValueError as exc:  # an invalid \u escape: the element that starts on `line`
        return properties, lines, Problem(file, line, "properties-syntax", str(exc))
    return properties, lines, None


def listeners_of(properties: dict[str, str]) -> list[dict[str, Any]]:
    """``listeners`` split into name, host, port and protocol (from the security protocol map).

    No ``listeners`` means Kafka's default, ``PLAINTEXT://:9092``. A listener named in
    ``controller.listener.names`` is marked ``controller: true`` (KRaft).
    """
    raw = properties.get("listeners", "PLAINTEXT://:9092")
    protocol_map = dict(zip(_PROTOCOLS, _PROTOCOLS, strict=True))
    for pair in properties.get("listener.security.protocol.map", "").split(","):
        name, _, protocol = pair.strip().partition(":")
        if name and protocol:
            protocol_map[name.upper()] = protocol.strip().upper()
    controllers = {n.strip().upper() for n in properties.get("controller.listener.names", "").split(",")}
    found: list[dict[str, Any]] = []
    for entry in (e.strip() for e in raw.split(",")):
        match = _LISTENER.match(entry)
        if match is None:
            continue
        name = match["name"].upper()
        found.append(
            {
                "name": name,
                "host": match["host"].strip("[]"),
                "port": int(match["port"]),
                "protocol": protocol_map.get(name, ""),
                "controller": name in controllers,
            }
        )
    return found


def _problems_of_listeners(properties: dict[str, str], lines: dict[str, int], path: str) -> Iterator[Problem]:
    for entry in (e.strip() for e in properties.get("listeners", "").split(",")):
        if entry and _LISTENER.match(entry) is None:
            message = f"listener {entry!r} is not NAME://host:port; it is left out of spec.listeners"
            yield Problem(path, lines.get("listeners", 0), "invalid-listener", message, level=Level.WARNING)
