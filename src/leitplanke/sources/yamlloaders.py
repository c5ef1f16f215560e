"""PyYAML's loaders as leitplanke composes with them: plain scalars resolved as Kubernetes resolves them
(go-yaml v2), in a lean ``resolve`` on libyaml's C parser (or the pure-Python one where libyaml is missing).

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
INT_TAG = "tag:yaml.org,2002:int"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = Resolver.DEFAULT_SCALAR_TAG

# How Kubernetes reads a plain scalar: sigs.k8s.io/yaml decodes YAML with go-yaml v2, whose ``resolve``
# looks a scalar up in a table of words (YAML 1.1's booleans and y/n, nulls, infinities), then tries
# Go's ``ParseInt(s, 0, 64)`` (signed; 0b, 0o, 0x in either case; a leading 0 is octal) and its YAML-style
# float, both after removing underscores. Anything else is a string: timestamps too (go-yaml v2 hands
# them to an untyped value as the text), and YAML 1.1's base 60 (``8080:80``) and ``=``.
TRUE_WORDS = frozenset(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"))
FALSE_WORDS = frozenset(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"))
_WORDS: dict[str, str] = {
    **dict.fromkeys(TRUE_WORDS | FALSE_WORDS, BOOL_TAG),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), NULL_TAG),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), FLOAT_TAG),
    **{sign + word: FLOAT_TAG for sign in ("", "+", "-") for word in (".inf", ".Inf", ".INF")},
    "<<": MERGE_TAG,
}
_GO_INT = re.compile(r"[-+]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")  # Go's ParseFloat of a scalar that starts with a dot


_RESOLVED: dict[str, str] = {}  # plain scalar -> its tag
_RESOLVED_LENGTH = 64
_RESOLVED_LIMIT = 200_000


def resolved_tag(value: str) -> str:
    """The tag go-yaml v2 gives the plain scalar ``value`` (module comment above)."""
    tag = _WORDS.get(value)
    if tag is not None:
        return tag
    first = value[:1]
    if first in "0123456789+-":
        plain = value.replace("_", "")
        if _GO_INT.fullmatch(plain):
            return INT_TAG
        if _GO_FLOAT.fullmatch(plain):
            return FLOAT_TAG
    elif first == "." and _DOT_FLOAT.fullmatch(value):
        return FLOAT_TAG
    return STR_TAG


class _Resolver(Resolver):
    """go-yaml v2's resolution of plain scalars (``resolved_tag``) in PyYAML's loader.

    libyaml's composer calls ``resolve`` and the two path hooks once per node, so these are on
    the hot path: no path resolvers, and each short scalar resolved once per process.
    """

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                # keys and many values recur across documents (name, image, "80"): each
                # short one is resolved once per process
                tag = _RESOLVED.get(value)
                if tag is None:
                    tag = resolved_tag(value)
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
