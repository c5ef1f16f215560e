"""RabbitMQ ``rabbitmq.conf`` (``key = value``) and definitions exports (JSON) into Documents.

``configs.LOADERS`` dispatches here: ``RabbitmqConfig`` keeps every setting and lists the AMQP
listeners; ``RabbitmqDefinitions`` keeps users (without password hashes), vhosts and permissions.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from leitplanke.core.documents import Document, SkippedInput, join_path
from leitplanke.core.problems import Problem
from leitplanke.sources import composing
from leitplanke.sources.configs import bodies, texts

DOMAIN = "rabbitmq"
KINDS = ("RabbitmqConfig", "RabbitmqDefinitions")
_SETTING = re.compile(r"^(?P<key>[A-Za-z0-9_.\-$]+)\s*=\s*(?P<value>.*?)\s*$")
_DEFINITIONS = re.compile(rb'"(?:rabbit_version|rabbitmq_version)"|"users"\s*:|"vhosts"\s*:')
_DEFINITION_LISTS = ("users", "vhosts", "permissions", "topic_permissions")
# a listener value is a port ("5672"), "host:port", "[ipv6]:port" or "none"
_ADDRESS = re.compile(r"^(?:(?P<host>\[[^\]]*\]|[^:\[\]]+|[0-9a-fA-F:]+::?[0-9a-fA-F]*):)?(?P<port>\d+)$")


def recognises(path: str, head: bytes) -> bool:
    """``rabbitmq.conf`` (also under ``conf.d``), or JSON that looks like a definitions export."""
    name = os.path.basename(path).lower()
    if name == "rabbitmq.conf" or (name.endswith(".conf") and "rabbitmq" in path.lower()):
        return not name.endswith("-env.conf")  # rabbitmq-env.conf is a shell file
    return name.endswith(".json") and head.lstrip().startswith(b"{") and len(_DEFINITIONS.findall(head)) >= 2


def load(path: str, data: bytes) -> Iterator[Document | Problem | SkippedInput]:
    text = texts.decode(path, data)
    if isinstance(text, Problem):
        yield text
    elif path.lower().endswith(".json"):
        yield from _definitions(path, text)
    else:
        yield from _config(path, text)


def _config(path: str, text: str) -> Iterator[Document | Problem]:
    settings: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        found = _SETTING.match(stripped)
        if found is None:
            yield Problem(path, number, "rabbitmq-syntax", f"expected 'key = value', found {stripped[:60]!r}")
            continue
        settings[found["key"]] = found["value"]
        lines[found["key"]] = number
    listeners = listeners_of(settings)
    body_lines = {join_path("spec.settings", key): line for key, line in lines.items()}
    for index, listener in enumerate(listeners):
        body_lines[f"spec.listeners[{index}]"] = lines.get(f"listeners.{listener['name']}", 0)
    yield texts.config_document(
        domain=DOMAIN,
        kind=KINDS[0],
        name=bodies.file_name(path),
        spec={"settings": settings, "listeners": listeners},
        file=path,
        lines=body_lines,
        line=min(lines.values(), default=1),
    )


def listeners_of(settings: dict[str, str]) -> list[dict[str, Any]]:
    """The AMQP listeners: ``listeners.tcp.*`` (plain) and ``listeners.ssl.*`` (TLS).

    With no ``listeners.tcp.*`` key and no ``listeners.tcp = none``, RabbitMQ listens in plain
    text on port 5672 of every interface: that listener is listed as ``tcp.default`` with
    ``implicit: true``.
    """
    found: list[dict[str, Any]] = []
    for key, value in settings.items():
        scheme, _, name = key.removeprefix("listeners.").partition(".")
        if not key.startswith("listeners.") or scheme not in ("tcp", "ssl") or not name:
            continue
        address = _ADDRESS.match(value.strip())
        host = (address["host"] or "").strip("[]") if address else value
        port = int(address["port"]) if address else 0
        found.append({"name": f"{scheme}.{name}", "tls": scheme == "ssl", "host": host, "port": port})
    plain_declared = any(k.startswith("listeners.tcp.") for k in settings)
    if not plain_declared and settings.get("listeners.tcp", "").strip() != "none":
        found.insert(0, {"name": "tcp.default", "tls": False, "host": "", "port": 5672, "implicit": True})
    return found


def _definitions(path: str, text: str) -> Iterator[Document | Problem]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Problem(path, exc.lineno, "json-syntax", exc.msg, column=exc.colno)
        return
    if not isinstance(value, dict):
        yield Problem(path, 1, "not-a-mapping", "a definitions export is a JSON object")
        return
    spec: dict[str, Any] = {}
    for key in _DEFINITION_LISTS:
        items = value.get(key)
        if isinstance(items, list):
            spec[key] = [_without_secrets(item) for item in items if isinstance(item, dict)]
    for key in ("rabbit_version", "rabbitmq_version"):
        if isinstance(value.get(key), str):
            spec[key] = value[key]
    yield texts.config_document(
        domain=DOMAIN,
        kind=KINDS[1],
        name=bodies.file_name(path),
        spec=spec,
        file=path,
        lines=_definition_lines(text),
    )


def _without_secrets(item: dict[str, Any]) -> dict[str, Any]:
    """A user without its password hash (policies need to know there is one, not what it is)."""
    if "password_hash" not in item:
        return item
    kept = {k: v for k, v in item.items() if k != "password_hash"}
    kept["hasPassword"] = bool(item["password_hash"])
    return kept


def _definition_lines(text: str) -> dict[str, int]:
    """Lines of ``spec.users[i]`` and the other listed items, read off the JSON as YAML nodes."""
    root = composing.compose_first(text.replace("\t", " "))  # JSON is YAML, but for tabs
    lines: dict[str, int] = {}
    if not isinstance(root, MappingNode):
        return lines
    for key_node, value_node in root.value:
        if key_node.value in _DEFINITION_LISTS and isinstance(value_node, SequenceNode):
            lines[f"spec.{key_node.value}"] = int(key_node.start_mark.line) + 1
            for index, item in enumerate(value_node.value):
                lines[f"spec.{key_node.value}[{index}]"] = _line(item)
    return lines


def _line(node: Node) -> int:
    """The line of an item's ``name`` key (an object's brace may stand on a line of its own)."""
    if isinstance(node, MappingNode):
        for key_node, _ in node.value:
            if key_node.value in ("name", "user"):
                return int(key_node.start_mark.line) + 1
    return int(node.start_mark.line) + 1
