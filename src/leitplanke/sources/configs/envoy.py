"""Envoy bootstrap files (YAML or JSON) as documents: the file, its static listeners, their HTTP managers.

``sources.configs`` dispatches here. Shapes (``apiVersion: config.leitplanke.dev/v1``):
``EnvoyConfig`` (``spec`` is the bootstrap as written), ``EnvoyListener`` (``spec`` is one of
``static_resources.listeners``) and ``EnvoyHttpConnectionManager`` (``spec`` is the
``typed_config`` of an ``http_connection_manager`` filter, labelled with its listener), each
with the line of every field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from leitplanke.core.documents import Document, Origin, SkippedInput
from leitplanke.core.problems import Problem
from leitplanke.sources import building, composing, locations
from leitplanke.sources.configs import bodies

DOMAIN = "envoy"
KINDS = ("EnvoyConfig", "EnvoyListener", "EnvoyHttpConnectionManager")
HCM_FILTER = "envoy.filters.network.http_connection_manager"
LISTENER_LABEL = "config.leitplanke.dev/listener"
_SUFFIXES = (".yaml", ".yml", ".json")
_MAX_NODES = 1_000_000
# top-level keys of a bootstrap: YAML keys at column 0, or JSON keys anywhere in the head
_YAML_TOP = re.compile(
    rb"^(static_resources|dynamic_resources|admin|listeners|clusters|apiVersion|kind):", re.M
)
_JSON_KEY = re.compile(rb'"(static_resources|dynamic_resources|admin|apiVersion|kind)"\s*:')


def recognises(path: str, head: bytes) -> bool:
    """A YAML/JSON file with ``static_resources``/``dynamic_resources``, or ``admin`` with
    ``listeners``/``clusters``, at its top level, and no ``apiVersion``/``kind``."""
    if not path.lower().endswith(_SUFFIXES):
        return False
    keys = {match.decode() for match in (_JSON_KEY if head.lstrip()[:1] == b"{" else _YAML_TOP).findall(head)}
    if keys & {"apiVersion", "kind"}:
        return False
    return bool(keys & {"static_resources", "dynamic_resources"}) or (
        "admin" in keys and bool(keys & {"listeners", "clusters"})
    )


def load(path: str, data: bytes) -> Iterator[Document | Problem | SkippedInput]:
    """The documents of one bootstrap file; a syntax error is a Problem at its line."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Problem(path, data.count(b"\n", 0, exc.start) + 1, "not-utf8", "invalid UTF-8")
        return
    is_json = composing.looks_like_json(data)
    if is_json:
        data = data.replace(b"\t", b" ")  # YAML refuses tabs, JSON only has them as whitespace
    text = composing.SourceText(data)
    code = "json-syntax" if is_json else "yaml-syntax"
    for index, root in enumerate(composing.compose_roots(text, file=path, syntax_code=code)):
        if isinstance(root, Problem):
            yield root
            continue
        yield from _documents(path, index, root)


def _documents(path: str, index: int, root: composing.Root) -> Iterator[Document | Problem | SkippedInput]:
    line = root.line_of(root.node)
    if building.exceeds(root.node, _MAX_NODES):
        yield Problem(path, line, "alias-bomb", f"expands to more than {_MAX_NODES} nodes through aliases")
        return
    try:
        body, _ = building.build(root.node)
    except (building.Rejected, RecursionError) as exc:
        yield Problem(path, line, "yaml-syntax", str(exc) or "nested too deep")
        return
    if not isinstance(body, dict):
        yield SkippedInput(path, index, line, "empty" if body is None else "not-envoy")
        return
    lines = locations.NodeLines(
        root.text, span=root.span(), base_line=line - 1, node=root.node, node_base=root.base_line
    )
    name = bodies.file_name(path)
    yield _document("EnvoyConfig", name, path, body, lines, "", index, line)
    static = body.get("static_resources")
    listeners = static.get("listeners") if isinstance(static, dict) else None
    for position, listener in enumerate(listeners if isinstance(listeners, list) else []):
        if not isinstance(listener, dict):
            continue
        source = f"static_resources.listeners[{position}]"
        listener_name = str(listener.get("name") or f"listener-{position}")
        at = lines.get(source, line)
        yield _document("EnvoyListener", listener_name, path, listener, lines, source, index, at)
        for chain_path, chain in _chains(listener):
            for filter_index, found in enumerate(_list(chain.get("filters"))):
                if not _is_http_manager(found):
                    continue
                manager_source = f"{source}.{chain_path}.filters[{filter_index}].typed_config"
                manager = found["typed_config"]
                manager_name = f"{listener_name}/{chain_path}"
                labels = {LISTENER_LABEL: listener_name}
                at = lines.get(manager_source, line)
                yield _document(
                    "EnvoyHttpConnectionManager",
                    manager_name,
                    path,
                    manager,
                    lines,
                    manager_source,
                    index,
                    at,
                    labels,
                )


def _document(
    kind: str,
    name: str,
    path: str,
    spec: Any,
    lines: Mapping[str, int],
    source: str,
    index: int,
    line: int,
    labels: Mapping[str, str] | None = None,
) -> Document:
    body = bodies.build_body(kind, name=name, file=path, spec=spec, labels=labels)
    origin = Origin(path, index, line, bodies.ShiftedLines(lines, source))
    return Document(body, origin, DOMAIN)


def _chains(listener: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for position, chain in enumerate(_list(listener.get("filter_chains"))):
        if isinstance(chain, dict):
            yield f"filter_chains[{position}]", chain
    default = listener.get("default_filter_chain")
    if isinstance(default, dict):
        yield "default_filter_chain", default


def _is_http_manager(found: Any) -> bool:
    if not isinstance(found, dict) or not isinstance(found.get("typed_config"), dict):
        return False
    type_url = str(found["typed_config"].get("@type", ""))
    return found.get("name") == HCM_FILTER or type_url.endswith(".HttpConnectionManager")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
