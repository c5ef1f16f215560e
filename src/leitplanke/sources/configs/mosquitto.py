"""Mosquitto ``mosquitto.conf`` into a ``MosquittoConfig`` document, ``include_dir`` files included.

``configs.LOADERS`` dispatches here. Settings after a ``listener`` line that belong to a
listener (TLS files, protocol, and with ``per_listener_settings true`` also authentication)
go into that listener; everything else is global, as Mosquitto reads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from leitplanke.core.documents import Document, SkippedInput, join_path
from leitplanke.core.problems import Level, Problem
from leitplanke.sources.configs import bodies, texts

DOMAIN = "mosquitto"
KINDS = ("MosquittoConfig",)
_HINTS = re.compile(
    rb"^[ \t]*(?:listener|allow_anonymous|persistence_location|per_listener_settings|password_file"
    rb"|acl_file)[ \t]",
    re.MULTILINE,
)
_LISTENER_KEYS = frozenset(
    [
        "bind_interface",
        "cafile",
        "capath",
        "certfile",
        "ciphers",
        "ciphers_tls1.3",
        "crlfile",
        "dhparamfile",
        "http_dir",
        "keyfile",
        "max_connections",
        "max_topic_alias",
        "mount_point",
        "protocol",
        "psk_hint",
        "require_certificate",
        "socket_domain",
        "tls_engine",
        "tls_engine_kpass_sha1",
        "tls_keyform",
        "tls_version",
        "use_identity_as_username",
        "use_subject_as_username",
        "use_username_as_clientid",
        "websockets_headers_size",
        "accept_protocol_versions",
    ]
)
# with per_listener_settings true these belong to the listener they follow, else they are global
_SECURITY_KEYS = frozenset(
    [
        "allow_anonymous",
        "allow_zero_length_clientid",
        "acl_file",
        "auth_plugin",
        "auto_id_prefix",
        "password_file",
        "plugin",
        "psk_file",
    ]
)
_REPEATABLE = frozenset(("plugin", "auth_plugin", "include_dir", "log_dest", "log_type"))


def recognises(path: str, head: bytes) -> bool:
    """``mosquitto.conf``, or a ``.conf`` file with Mosquitto keywords (``listener``, ``allow_anonymous``)."""
    name = os.path.basename(path).lower()
    if name == "mosquitto.conf":
        return True
    return name.endswith(".conf") and "mosquitto" in path.lower() and _HINTS.search(head) is not None


def load(path: str, data: bytes) -> Iterator[Document | Problem | SkippedInput]:
    text = texts.decode(path, data)
    if isinstance(text, Problem):
        yield text
        return
    entries: list[tuple[str, str, int]] = []
    problems: list[Problem] = []
    for keyword, value, line in _entries(text):
        entries.append((keyword, value, line))
        if keyword == "include_dir":
            entries.extend(_included(path, value, line, problems))
    yield from problems
    yield _document(path, entries)


def included_files(path: str, data: bytes) -> tuple[str, ...]:
    """The ``*.conf`` files of every ``include_dir`` of ``path`` (Mosquitto reads no deeper)."""
    text = texts.decode(path, data)
    if isinstance(text, Problem):
        return ()
    found: list[str] = []
    for keyword, value, _ in _entries(text):
        if keyword != "include_dir":
            continue
        folder = _include_folder(path, value)
        try:
            found.extend(os.path.join(folder, name) for name in _fragment_names(folder))
        except OSError:
            continue  # loading the file reports it
    return tuple(found)


def _include_folder(path: str, directory: str) -> str:
    return directory if os.path.isabs(directory) else os.path.join(os.path.dirname(path), directory)


def _fragment_names(folder: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".conf"))


def _entries(text: str) -> Iterator[tuple[str, str, int]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, value = stripped.partition(" ")
            yield keyword.strip(), value.strip(), number


def _included(
    path: str, directory: str, line: int, problems: list[Problem]
) -> Iterator[tuple[str, str, int]]:
    """The entries of the ``*.conf`` files of an ``include_dir``, in name order, at the include's line."""
    folder = _include_folder(path, directory)
    try:
        names = _fragment_names(folder)
    except OSError as exc:
        problems.append(Problem(path, line, "unreadable-include", f"{folder}: {exc.strerror or exc}"))
        return
    for name in names:
        data = texts.read_file(os.path.join(folder, name))
        text = data if isinstance(data, Problem) else texts.decode(os.path.join(folder, name), data)
        if isinstance(text, Problem):
            problems.append(text)
            continue
        for keyword, value, _ in _entries(text):
            if keyword == "include_dir":
                message = "include_dir inside an included file is not read by Mosquitto"
                problems.append(
                    Problem(os.path.join(folder, name), 0, "nested-include", message, level=Level.WARNING)
                )
                continue
            yield keyword, value, line


def _document(path: str, entries: list[tuple[str, str, int]]) -> Document:
    per_listener = any(k == "per_listener_settings" and v.lower() == "true" for k, v, _ in entries)
    settings: dict[str, Any] = {}
    listeners: list[dict[str, Any]] = []
    lines: dict[str, int] = {}
    for keyword, value, line in entries:
        listener_scoped = keyword in _LISTENER_KEYS or (per_listener and keyword in _SECURITY_KEYS)
        if keyword == "listener":
            port, _, host = value.partition(" ")
            listeners.append({"port": port, "address": host.strip(), "settings": {}})
            lines[f"spec.listeners[{len(listeners) - 1}]"] = line
        elif listeners and listener_scoped:
            listeners[-1]["settings"][keyword] = value
            lines[join_path(f"spec.listeners[{len(listeners) - 1}].settings", keyword)] = line
        elif keyword in _REPEATABLE:
            settings.setdefault(keyword, []).append(value)
            lines.setdefault(join_path("spec.settings", keyword), line)
        else:
            settings[keyword] = value
            lines[join_path("spec.settings", keyword)] = line
    if "port" in settings:  # the deprecated default listener, configured by global settings
        default = {"port": settings["port"], "address": settings.get("bind_address", ""), "settings": {}}
        listeners.insert(0, {**default, "default": True})
        lines = _shifted(lines)
        lines["spec.listeners[0]"] = lines.get("spec.settings.port", 0)
    spec = {"settings": settings, "listeners": listeners, "perListenerSettings": per_listener}
    return texts.config_document(
        domain=DOMAIN,
        kind=KINDS[0],
        name=bodies.file_name(path),
        spec=spec,
        file=path,
        lines=lines,
        line=min((v for v in lines.values() if v), default=1),
    )


def _shifted(lines: dict[str, int]) -> dict[str, int]:
    """Listener paths moved one index up, to make room for the default listener at index 0."""
    moved: dict[str, int] = {}
    for key, line in lines.items():
        found = re.match(r"^spec\.listeners\[(\d+)\](.*)$", key)
        moved[f"spec.listeners[{int(found[1]) + 1}]{found[2]}" if found else key] = line
    return moved
