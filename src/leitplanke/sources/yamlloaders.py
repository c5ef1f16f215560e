"""PyYAML's loaders as leitplanke composes with them: YAML 1.1 tag resolution plus JSON exponents as
floats, in a lean ``resolve`` on libyaml's C parser (or the pure-Python one where libyaml is missing).

``composing`` calls ``new_loader`` for every region of text it composes and for its depth check.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import yaml
from yaml.composer import Composer
from yaml.events import Event
from yaml.nodes import Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

FLOAT_TAG = "tag:yaml.org,2002:float"
# JSON numbers with an exponent and no dot (``1e5``) are strings in YAML 1.1, floats for Kubernetes.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


def _with_exponent_floats(resolvers: dict[Any, Any]) -> dict[Any, Any]:
    extended = {first: list(pairs) for first, pairs in resolvers.items()}
    for first in "-+.0123456789":
        extended.setdefault(first, []).append((FLOAT_TAG, _EXPONENT_FLOAT))
    return extended


def _by_first_letter(resolvers: dict[Any, Any]) -> dict[str, tuple[tuple[str, re.Pattern[str]], ...]]:
    anywhere = tuple(resolvers.get(None, ()))
    return {first: (*pairs, *anywhere) for first, pairs in resolvers.items() if first is not None}


_IMPLICIT = _with_exponent_floats(Resolver.yaml_implicit_resolvers)
_IMPLICIT_BY_FIRST = _by_first_letter(_IMPLICIT)


_RESOLVED: dict[str, str] = {}  # plain scalar -> its tag
_RESOLVED_LENGTH = 64
_RESOLVED_LIMIT = 200_000


def _resolved(value: str) -> str:
    for tag, pattern in _IMPLICIT_BY_FIRST.get(value[:1], ()):
        if pattern.match(value):
            return tag
    return Resolver.DEFAULT_SCALAR_TAG


class _Resolver(Resolver):
    """PyYAML's YAML 1.1 resolution plus JSON exponents as floats, in a leaner ``resolve``.

    libyaml's composer calls ``resolve`` and the two path hooks once per node, so these are on
    the hot path: no path resolvers, and the implicit resolvers looked up once per first letter.
    """

    yaml_implicit_resolvers = _IMPLICIT

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                # keys and many values recur across documents (name, image, "80"): each
                # short one is resolved once per process
                tag = _RESOLVED.get(value)
                if tag is None:
                    tag = _resolved(value)
                    if len(value) <= _RESOLVED_LENGTH and len(_RESOLVED) < _RESOLVED_LIMIT:
                        _RESOLVED[value] = tag
                return tag
            return self.DEFAULT_SCALAR_TAG
        return self.DEFAULT_SEQUENCE_TAG if kind is SequenceNode else self.DEFAULT_MAPPING_TAG

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


class Loader(Protocol):
    def check_node(self) -> bool: ...
    def get_node(self) -> Node | None: ...
    def check_event(self, *choices: type[Event]) -> bool: ...
    def get_event(self) -> Event | None: ...
    def dispose(self) -> None: ...


class _PurePythonLoader(Reader, Scanner, Parser, Composer, _Resolver):
    """For a PyYAML built without libyaml: the same nodes, about ten times slower."""

    def __init__(self, stream: bytes | str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _LibyamlLoader(CParser, _Resolver):
        def __init__(self, stream: bytes | str) -> None:
            CParser.__init__(self, stream)
            _Resolver.__init__(self)


def new_loader(stream: bytes | str) -> Loader:
    """A loader over ``stream`` (the caller disposes of it): libyaml's parser when PyYAML has it."""
    if yaml.__with_libyaml__:
        return _LibyamlLoader(stream)
    return _PurePythonLoader(stream)
