"""Loaders for configuration that is not a Kubernetes manifest (Envoy, NGINX, …).

``sources.files`` asks ``loader_for`` which loader, if any, owns a file, and calls its
``load``. Each loader is a module in ``LOADERS`` exposing:

- ``DOMAIN: str``: the ``Document.domain`` it produces (``envoy``, ``nginx``) and the name
  ``--type`` selects it by;
- ``KINDS: tuple[str, ...]``: the kinds of the documents it produces
  (``apiVersion: config.leitplanke.dev/v1``);
- ``recognises(path: str, head: bytes) -> bool``: whether the file is its own, from its
  name and its first bytes (``head``, up to ``HEAD_BYTES``); cheap and never raising;
- ``load(path: str, data: bytes) -> Iterator[Document | Problem | SkippedInput]``: the
  documents of the whole file, with ``Origin.lines`` pointing at each field's line; a file it
  cannot read is a ``Problem`` with file and line, never an exception;
- optionally ``included_files(path: str, data: bytes) -> tuple[str, ...]``: the files the
  include directives of ``path`` pull in (transitively), so that a directory walk does not
  load them a second time on their own (NGINX ``include``, Mosquitto ``include_dir``, sshd
  ``Include``).

The first loader in ``LOADERS`` that recognises a file wins; adding a loader is one line.
``bodies`` has what loaders share: ``API_VERSION``, ``build_body`` and ``ShiftedLines``.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

from leitplanke.core.documents import Document, SkippedInput
from leitplanke.core.problems import Problem
from leitplanke.sources.configs import bodies, envoy, kafka, mosquitto, nginx, rabbitmq, sshd, sysctl

API_VERSION = bodies.API_VERSION
HEAD_BYTES = 4096
Output = Document | Problem | SkippedInput

# order matters: the first loader that recognises a file wins
LOADERS: tuple[ModuleType, ...] = (
    envoy,
    nginx,
    kafka,
    rabbitmq,
    mosquitto,
    sshd,
    sysctl,
)


def loader_for(path: str, head: bytes) -> ModuleType | None:
    """The loader that recognises ``path`` from its name and first bytes, or ``None``."""
    for loader in LOADERS:
        if loader.recognises(path, head):
            return loader
    return None


def loader_named(domain: str) -> ModuleType | None:
    """The loader ``--type domain`` selects, or ``None`` when no loader has that domain."""
    for loader in LOADERS:
        if domain == loader.DOMAIN:
            return loader
    return None


def domains() -> tuple[str, ...]:
    return tuple(loader.DOMAIN for loader in LOADERS)


def load_config(loader: ModuleType, path: str, data: bytes) -> Iterator[Output]:
    """What ``loader`` reads from ``path``: typed here once, so callers need not trust a module."""
    found: Iterator[Output] = loader.load(path, data)
    yield from found


def follows_includes(loader: ModuleType) -> bool:
    """Whether ``loader`` pulls other files into the ones it loads."""
    return hasattr(loader, "included_files")


def included_files(loader: ModuleType, path: str, data: bytes) -> tuple[str, ...]:
    """The files that ``path``'s includes pull in, as ``loader`` resolves them; ``()`` for loaders
    without includes. Reads those files (and theirs); never raises."""
    find = getattr(loader, "included_files", None)
    if find is None:
        return ()
    found: tuple[str, ...] = tuple(find(path, data))
    return found
