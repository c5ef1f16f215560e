"""NGINX configuration (``nginx.conf`` with its includes, or a ``conf.d`` fragment) as documents.

``sources.configs`` dispatches here; this is the only module that imports crossplane. Each file
gives one ``NginxConfig`` (the main, ``events`` and ``http`` directives) and one ``NginxServer``
per ``server`` block, whose ``spec.directives`` are the values in effect there (the server's own,
else the ``http`` block's, as NGINX inherits them); the line of every directive is kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.documents import Document, Origin, SkippedInput, join_path
from leitplanke.core.problems import Problem
from leitplanke.sources.configs import bodies

DOMAIN = "nginx"
KINDS = ("NginxConfig", "NginxServer")
_BLOCK_START = re.compile(rb"^\s*(?:http|server|events|stream)\s*\{", re.M)
_REDIRECTS = ("301", "302", "303", "307", "308")
_LOOPBACK = re.compile(r"^(?:127(?:\.\d+){3}|::1|localhost|unix:.*)$")


def recognises(path: str, head: bytes) -> bool:
    """``nginx.conf``, or a ``*.conf`` file with an ``http``, ``server``, ``events`` or ``stream`` block."""
    name = os.path.basename(path).lower()
    if name == "nginx.conf":
        return True
    return name.endswith(".conf") and _BLOCK_START.search(head) is not None


@dataclass(frozen=True, slots=True)
class Directive:
    """One directive after includes are spliced in, with the file and line it was written at."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None


@dataclass(slots=True)
class _Expansion:
    payload: Sequence[Mapping[str, Any]]
    problems: list[Problem] = field(default_factory=list)


def load(path: str, data: bytes) -> Iterator[Document | Problem | SkippedInput]:
    """The documents of one NGINX file; crossplane reads it (and its includes) from disk.

    Syntax errors, missing includes and include loops are Problems with file and line; what
    could be read is still loaded.
    """
    import crossplane  # loaded with the first NGINX file

    del data  # crossplane reads the file and its includes itself
    payload = crossplane.parse(path, catch_errors=True, check_ctx=False, check_args=True, comments=False)
    configs = payload.get("config") or []
    expansion = _Expansion(configs)
    for error in payload.get("errors") or []:
        expansion.problems.append(_problem(error, path))
    if not configs:
        yield from expansion.problems
        return
    top = _expand(expansion, 0, (os.path.realpath(path),))
    yield from sorted(expansion.problems)
    if not top and not expansion.problems:
        yield SkippedInput(path, 0, 1, "empty")
        return
    yield from _documents(path, top)


def included_files(path: str, data: bytes) -> tuple[str, ...]:
    """Every file the ``include`` directives of ``path`` pull in, through nested includes too."""
    import crossplane  # loaded with the first NGINX file

    del data  # crossplane reads the file and its includes itself
    payload = crossplane.parse(path, catch_errors=True, check_ctx=False, check_args=False, comments=False)
    return tuple(str(config.get("file", "")) for config in (payload.get("config") or [])[1:])


def _problem(error: Mapping[str, Any], default_file: str) -> Problem:
    message = str(error.get("error", "unreadable"))
    file, line = str(error.get("file") or default_file), int(error.get("line") or 0)
    if "No such file or directory" in message or "Permission denied" in message:
        return Problem(file, line, "nginx-include-unreadable", message.split("] ", 1)[-1])
    return Problem(file, line, "nginx-syntax", re.sub(r" in \S+:\d+$", "", message))


def _expand(expansion: _Expansion, index: int, stack: tuple[str, ...]) -> tuple[Directive, ...]:
    config = expansion.payload[index]
    return _expand_block(expansion, config.get("parsed") or [], str(config.get("file", "")), stack)


def _expand_block(
    expansion: _Expansion, parsed: Sequence[Mapping[str, Any]], file: str, stack: tuple[str, ...]
) -> tuple[Directive, ...]:
    found: list[Directive] = []
    for entry in parsed:
        name, line = str(entry.get("directive", "")), int(entry.get("line", 0))
        if name == "include" and "includes" in entry:
            for included in entry["includes"]:
                target = str(expansion.payload[included].get("file", ""))
                if os.path.realpath(target) in stack:
                    message = f"{target} includes itself (through {' → '.join(stack)}); not followed again"
                    expansion.problems.append(Problem(file, line, "nginx-include-loop", message))
                    continue
                found.extend(_expand(expansion, included, (*stack, os.path.realpath(target))))
            continue
        block = entry.get("block")
        inner = None if block is None else _expand_block(expansion, block, file, stack)
        found.append(Directive(name, tuple(str(a) for a in entry.get("args", ())), file, line, inner))
    return tuple(found)


class _Lines:
    """The lines of one document's paths, for directives written in the document's own file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[str, int] = {}

    def put(self, path: str, directive: Directive) -> None:
        if directive.file == self.file:
            self.lines.setdefault(path, directive.line)


def _documents(path: str, top: tuple[Directive, ...]) -> Iterator[Document]:
    http_blocks = [d for d in top if d.name == "http" and d.block is not None]
    servers = [d for d in top if d.name == "server" and d.block is not None]  # a conf.d fragment
    http: tuple[Directive, ...] = ()
    for block in http_blocks:
        http += block.block or ()
        servers += [d for d in block.block or () if d.name == "server" and d.block is not None]
    yield _config_document(path, top, http)
    seen: dict[str, int] = {}
    for index, server in enumerate(servers, start=1):
        yield _server_document(path, index, server, inherited=http, seen=seen)


def _config_document(path: str, top: tuple[Directive, ...], http: tuple[Directive, ...]) -> Document:
    lines = _Lines(path)
    spec: dict[str, Any] = {}
    for section, directives in (
        ("main", top),
        ("events", _block_of(top, "events")),
        ("http", http),
    ):
        spec[section] = _directive_map(directives, f"spec.{section}", lines)
    body = bodies.build_body("NginxConfig", name=bodies.file_name(path), file=path, spec=spec)
    return Document(body, Origin(path, 0, 1, lines.lines), DOMAIN)


def _block_of(directives: tuple[Directive, ...], name: str) -> tuple[Directive, ...]:
    return tuple(inner for d in directives if d.name == name for inner in d.block or ())


def _directive_map(directives: Sequence[Directive], base: str, lines: _Lines) -> dict[str, list[list[str]]]:
    """Simple directives by name, each occurrence as its list of arguments (blocks left out)."""
    found: dict[str, list[list[str]]] = {}
    for directive in directives:
        if directive.block is not None:
            continue
        occurrences = found.setdefault(directive.name, [])
        lines.put(f"{join_path(join_path(base, directive.name), len(occurrences))}", directive)
        lines.put(join_path(base, directive.name), directive)
        occurrences.append(list(directive.args))
    return found


def _server_document(
    path: str, index: int, server: Directive, *, inherited: tuple[Directive, ...], seen: dict[str, int]
) -> Document:
    own = server.block or ()
    written_in = server.file or path  # a server from an included file points into that file
    lines = _Lines(written_in)
    named = {d.name for d in own if d.block is None}
    effective = [d for d in inherited if d.block is None and d.name not in named] + list(own)
    directives = _directive_map(effective, "spec.directives", lines)
    listen = [_listen(d) for d in own if d.name == "listen"] or [_default_listen()]
    for position, directive in enumerate(d for d in own if d.name == "listen"):
        lines.put(f"spec.listen[{position}]", directive)
    if directives.get("ssl", [["off"]])[0][:1] == ["on"]:
        for entry in listen:
            entry["ssl"] = True  # the deprecated `ssl on;` turns TLS on for every listen of the server
    locations = _locations(own, "spec.locations", lines)
    server_names = [name for d in own if d.name == "server_name" for name in d.args]
    spec = {
        "serverNames": server_names,
        "listen": listen,
        "directives": directives,
        "locations": locations,
        "httpsRedirect": _redirects_to_https(directives, locations),
    }
    name = f"{next((n for n in server_names if n), '_')}:{listen[0]['port'] or listen[0]['address']}"
    seen[name] = seen.get(name, 0) + 1
    if seen[name] > 1:
        name = f"{name}#{seen[name]}"
    body = bodies.build_body("NginxServer", name=name, file=written_in, spec=spec)
    lines.put("spec", server)
    return Document(body, Origin(written_in, index, server.line, lines.lines), DOMAIN)


def _locations(directives: Sequence[Directive], base: str, lines: _Lines) -> list[dict[str, Any]]:
    """Every ``location`` block below a server, nested ones flattened after their parent."""
    found: list[dict[str, Any]] = []

    def visit(block: Sequence[Directive]) -> None:
        for directive in block:
            if directive.name != "location" or directive.block is None:
                continue
            path = f"{base}[{len(found)}]"
            lines.put(path, directive)
            found.append(
                {
                    "match": " ".join(directive.args),
                    "directives": _directive_map(directive.block, f"{path}.directives", lines),
                }
            )
            visit(directive.block)

    visit(directives)
    return found


def parse_listen(args: Sequence[str]) -> dict[str, Any]:
    """``listen [::]:443 ssl http2`` → address, host, port, and the ``ssl``/``http2``/``loopback`` flags."""
    address = args[0] if args else "*:80"
    if address.startswith("unix:"):
        host, port = address, ""
    elif address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.lstrip(":") or "80"
    elif address.isdigit():
        host, port = "*", address
    elif ":" in address:
        host, port = address.rsplit(":", 1)
    else:
        host, port = address, "80"
    flags = set(args[1:])
    return {
        "address": address,
        "host": host,
        "port": port,
        "ssl": bool(flags & {"ssl", "quic"}),
        "http2": "http2" in flags,
        "loopback": _LOOPBACK.match(host) is not None,
        "defaultServer": bool(flags & {"default_server", "default"}),
    }


def _listen(directive: Directive) -> dict[str, Any]:
    return parse_listen(directive.args)


def _default_listen() -> dict[str, Any]:
    # a server without `listen` listens on *:80 (NGINX run as root)
    return {**parse_listen(["*:80"]), "implicit": True}


def _redirects_to_https(
    directives: Mapping[str, list[list[str]]], locations: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether the server answers every request with a redirect to an ``https://`` URL."""
    if any(_is_https_return(args) for args in directives.get("return", [])):
        return True
    if any(_is_https_rewrite(args) for args in directives.get("rewrite", [])):
        return True
    root = [loc for loc in locations if loc["match"] == "/"]
    return (
        bool(root)
        and all(any(_is_https_return(args) for args in loc["directives"].get("return", [])) for loc in root)
        and not any(loc["match"] != "/" for loc in locations)
    )


def _is_https_return(args: Sequence[str]) -> bool:
    return len(args) == 2 and args[0] in _REDIRECTS and args[1].startswith("https://")


def _is_https_rewrite(args: Sequence[str]) -> bool:
    return len(args) >= 2 and args[0] in ("^", "^(.*)$", "^/(.*)$", "^.*$") and args[1].startswith("https://")
