"""Finding the inputs named on a command line and loading their documents: the file I/O of sources.

The CLI calls ``iter_sources`` on the paths it was given, then ``load_source`` on each.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from leitplanke.core import documents
from leitplanke.core.problems import Problem
from leitplanke.sources import configs, helm, kustomize, parsing

STDIN = "-"
KUBERNETES_TYPE = "kubernetes"  # `--type kubernetes`: parse as manifests whatever the file looks like
STDIN_NAME = "<stdin>"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_SNIFF_BYTES = 4096
_KUBERNETES_KEY = re.compile(rb"^(?:apiVersion|kind):", re.MULTILINE)
# blank lines, comments, document markers and directives before the first line of content
_PREAMBLE = re.compile(rb"(?:[ \t]*(?:#[^\n]*)?\n|---[^\n]*\n|%[^\n]*\n)*")
_MAPPING_KEY = re.compile(rb"[A-Za-z_][\w.\-/]*:")
# a file that may hold a Namespace (YAML or JSON): only those are parsed by ``namespace_objects``
_DOCUMENT_START = re.compile(rb"^---[^\n]*\n", re.MULTILINE)
_NAMESPACE_KIND = re.compile(rb"""kind["']?[ \t]*:[ \t]*["']?Namespace\b""")  # a literal prefix: fast


@dataclass(frozen=True, slots=True)
class Source:
    """One input to load: a file, a directory to render, or standard input."""

    kind: Literal["file", "kustomize", "helm", "stdin"]
    path: str


def config_types() -> tuple[str, ...]:
    """What ``--type`` accepts: each loader's domain, and ``kubernetes``."""
    return (*configs.domains(), KUBERNETES_TYPE)


def iter_sources(paths: Sequence[str]) -> Iterator[Source]:
    """The sources below ``paths``, in sorted order.

    Files named explicitly are always read; in a directory walk, ``.yaml``/``.yml``/``.json``
    files are read and other files only when their first 4 KB look like a Kubernetes object or
    a configuration file one of ``sources.configs`` recognises (``nginx.conf``, …).
    Hidden files and directories are skipped and symbolic links to directories not followed.
    A directory with a kustomization file or a ``Chart.yaml`` is one rendered source, not
    walked into (Kustomize wins when it has both); the bases of overlays found in a walk are
    rendered on their own too. A missing path, or a directory that cannot be listed, comes out
    as a ``file`` source, so that loading it says why (``unreadable``).

    A file found in a walk that a configuration file among the sources includes (an NGINX
    ``conf.d`` fragment, a Mosquitto ``include_dir`` or sshd ``Include`` file) is left out: it is
    loaded as part of the file that includes it, not a second time alone. Two files that include
    each other are both kept (each reports the loop), and a file named explicitly is always read.
    """
    found: list[tuple[Source, bool]] = []  # each source, and whether a directory walk found it
    for path in paths:
        if path == STDIN:
            found.append((Source("stdin", STDIN), False))
        elif os.path.isdir(path):
            found.extend((source, True) for source in _directory(path))
        else:
            found.append((Source("file", path), False))
    consumed = _consumed([source.path for source, _ in found if source.kind == "file"])
    for source, walked in found:
        if not (walked and os.path.realpath(source.path) in consumed):
            yield source


def iter_files(paths: Sequence[str]) -> Iterator[str | Problem]:
    """The plain files ``iter_sources`` finds (rendered directories and stdin left out)."""
    for source in iter_sources(paths):
        if source.kind != "file":
            continue
        if os.path.lexists(source.path):
            yield source.path
        else:
            yield Problem(source.path, 0, "not-found", "no such file or directory")


def load_source(
    source: Source,
    *,
    limits: parsing.Limits = parsing.DEFAULT_LIMITS,
    helm_values: Sequence[str] = (),
    helm_set: Sequence[str] = (),
    stdin: BinaryIO | None = None,
    config_type: str | None = None,
) -> Iterator[parsing.Output]:
    """The documents of one source; ``stdin`` defaults to the process's standard input.

    ``config_type`` (``--type``: ``kubernetes`` or a domain of ``sources.configs``) overrides
    recognition for files.
    """
    if source.kind == "kustomize":
        yield from kustomize.load_kustomization(source.path, limits=limits)
    elif source.kind == "helm":
        yield from helm.load_chart(source.path, limits=limits, values_files=helm_values, set_values=helm_set)
    elif source.kind == "stdin":
        yield from load_stdin(stdin if stdin is not None else sys.stdin.buffer, limits=limits)
    else:
        yield from load_documents(source.path, limits=limits, config_type=config_type)


def namespace_objects(
    sources: Sequence[object], *, limits: parsing.Limits = parsing.DEFAULT_LIMITS
) -> dict[str, Mapping[str, Any]]:
    """The Namespace objects in the plain files among ``sources``, by name: a first pass, so
    that documents in a Namespace of the scanned set see it (``engine.scan(namespaces=...)``).

    Only files whose text names the kind are parsed; rendered sources (Helm, Kustomize) and
    stdin are left out, as they cannot be read twice cheaply, and so is anything that is not
    a ``Source`` (the host). A file that cannot be read is skipped here: the scan reports it.
    """
    found: list[parsing.Output] = []
    for source in sources:
        if not isinstance(source, Source) or source.kind != "file":
            continue
        try:
            if os.stat(source.path).st_size > limits.max_bytes:
                continue
            with open(source.path, "rb") as stream:
                data = stream.read(limits.max_bytes + 1)
        except OSError:
            continue
        if _NAMESPACE_KIND.search(data) is None:
            continue
        # only the documents that name the kind: a big install file holds one Namespace among hundreds
        for part in _DOCUMENT_START.split(data):
            if _NAMESPACE_KIND.search(part) is not None:
                found.extend(parsing.parse_documents(part, file=source.path, limits=limits))
    return documents.namespace_objects(found)


def load_path(
    path: str, *, limits: parsing.Limits = parsing.DEFAULT_LIMITS, config_type: str | None = None
) -> Iterator[parsing.Output]:
    """Every document below one path: a file, a walked directory, a chart or a kustomization."""
    for source in iter_sources([path]):
        yield from load_source(source, limits=limits, config_type=config_type)


def load_documents(
    path: str, *, limits: parsing.Limits = parsing.DEFAULT_LIMITS, config_type: str | None = None
) -> Iterator[parsing.Output]:
    """The documents of one file; a file over ``limits.max_bytes`` is refused before it is read.

    A file a loader of ``sources.configs`` recognises (or the one ``config_type`` names) goes to
    that loader; any other file is parsed as Kubernetes YAML or JSON.
    """
    try:
        size = os.stat(path).st_size
        if size > limits.max_bytes:
            message = f"{size} bytes is more than the limit of {limits.max_bytes}"
            yield Problem(path, 0, "too-large", message)
            return
        with open(path, "rb") as stream:
            data = stream.read(limits.max_bytes + 1)  # a pipe or a growing file may outrun stat
    except OSError as exc:
        yield Problem(path, 0, "unreadable", exc.strerror or str(exc))
        return
    if config_type is not None and config_type != KUBERNETES_TYPE:
        loader = configs.loader_named(config_type)
        if loader is None:
            yield Problem(path, 0, "unknown-type", f"no loader for --type {config_type!r}")
            return
    else:
        loader = (
            None if config_type == KUBERNETES_TYPE else configs.loader_for(path, data[: configs.HEAD_BYTES])
        )
    if loader is not None:
        yield from configs.load_config(loader, path, data)
        return
    yield from parsing.parse_documents(data, file=path, limits=limits)


def load_stdin(
    stream: BinaryIO, *, limits: parsing.Limits = parsing.DEFAULT_LIMITS
) -> Iterator[parsing.Output]:
    """The documents piped in; more than ``limits.max_bytes`` is refused after reading one byte too many."""
    data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        yield Problem(STDIN_NAME, 0, "too-large", f"more than the limit of {limits.max_bytes} bytes")
        return
    yield from parsing.parse_documents(data, file=STDIN_NAME, limits=limits)


def _directory(directory: str) -> Iterator[Source]:
    rendered = _rendered_kind(directory)
    if rendered is not None:
        yield Source(rendered, directory)
        return
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        yield Source("file", directory)  # loading it reports the error
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _directory(entry.path)
        elif entry.is_file() and _is_manifest(entry.path):
            yield Source("file", entry.path)


def _consumed(paths: Sequence[str]) -> set[str]:
    """Real paths of the files that another of ``paths`` includes (and that do not include it back)."""
    includes = {os.path.realpath(path): _included_files(path) for path in paths}
    return {
        target
        for includer, targets in includes.items()
        for target in targets
        if target != includer and includer not in includes.get(target, frozenset())
    }


def _included_files(path: str) -> frozenset[str]:
    """Real paths of what ``path``'s includes pull in, when a loader that follows includes owns it."""
    if path.lower().endswith(MANIFEST_SUFFIXES):
        return frozenset()  # no loader with includes reads YAML or JSON
    try:
        with open(path, "rb") as stream:
            head = stream.read(_SNIFF_BYTES)
            loader = configs.loader_for(path, head)
            if loader is None or not configs.follows_includes(loader):
                return frozenset()
            data = head + stream.read(parsing.DEFAULT_LIMITS.max_bytes + 1 - len(head))
    except OSError:
        return frozenset()  # loading the file reports it
    if len(data) > parsing.DEFAULT_LIMITS.max_bytes:
        return frozenset()  # refused when it is loaded
    return frozenset(os.path.realpath(p) for p in configs.included_files(loader, path, data))


def _rendered_kind(directory: str) -> Literal["kustomize", "helm"] | None:
    if kustomize.kustomization_file(directory) is not None:
        return "kustomize"
    if helm.is_chart(directory):
        return "helm"
    return None


def _is_manifest(path: str) -> bool:
    """YAML and JSON by name; any other file when its first 4 KB look like a Kubernetes object."""
    if path.lower().endswith(MANIFEST_SUFFIXES):
        return True
    try:
        with open(path, "rb") as stream:
            start = stream.read(_SNIFF_BYTES)
    except OSError:
        return False  # not ours to report: nobody asked for this file
    return looks_like_kubernetes(start) or configs.loader_for(path, start) is not None


def looks_like_kubernetes(start: bytes) -> bool:
    """JSON with an ``"apiVersion"``, or YAML that starts with a mapping key and has an
    ``apiVersion:`` or ``kind:`` line (so a README with a YAML example is not read)."""
    preamble = _PREAMBLE.match(start)
    content = start[preamble.end() :] if preamble else start
    if content.startswith((b"{", b"[")):
        return b'"apiVersion"' in content
    return _MAPPING_KEY.match(content) is not None and _KUBERNETES_KEY.search(content) is not None
