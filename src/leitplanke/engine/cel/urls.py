"""Kubernetes' CEL URL library: `url('https://example.com:8443/p?q=1').getPort()` and friends.

Pure Python, no CEL import: `engine.cel` registers `declarations()` with the runtime. A URL
travels as `{"__url__": "<as written>"}`. What is accepted and how it splits follow Go's
net/url as Kubernetes uses it: ParseRequestURI decides validity, Parse takes the URL apart.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes, unquote_plus, unquote_to_bytes

from leitplanke.engine.cel import functions

MARKER = "__url__"

_ALPHANUMERIC = string.ascii_letters + string.digits
_SCHEME_CHARACTERS = frozenset(_ALPHANUMERIC + "+-.")
_HOST_CHARACTERS = frozenset(_ALPHANUMERIC + "-_.~!$&'()*+,;=:[]<>\"%")
_USERINFO_CHARACTERS = frozenset(_ALPHANUMERIC + "-._:~!$&'()*+,;=%@")
_ENCODED_PATH_CHARACTERS = frozenset(_ALPHANUMERIC + "-_.~!$&'()*+,;=:@[]/%")
_PORT = re.compile(r"(?::[0-9]*)?")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Go allows %-escapes in a host only for non-ASCII bytes, and %25 for zones
_ASCII_HOST_ESCAPE = re.compile(r"%(?!25)[0-7][0-9A-Fa-f]")


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    scheme: str  # lower case, "" for an absolute path
    host: str  # with the port and any IPv6 brackets, as Go's URL.Host
    raw_path: str  # as written
    raw_query: str


def _invalid(text: str, reason: str) -> TypeError:
    # exactly TypeError: the runtime reports it as INVALID_ARGUMENT, a subclass as UNKNOWN
    return TypeError(f"invalid URL {text!r}: {reason}")


def parse_url(text: str) -> ParsedUrl:
    parse_request_uri(text)
    return _split(text, request=False)


def _split(text: str, *, request: bool) -> ParsedUrl:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise _invalid(text, "invalid control character")
    # a request URI has no fragment: there '#' is part of the path or the query
    rest = text if request else text.partition("#")[0]
    scheme, rest = _split_scheme(text, rest)
    if rest.endswith("?") and rest.count("?") == 1:
        rest, query = rest[:-1], ""
    else:
        rest, _, query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:  # opaque, as in mailto:someone@example.com
            return ParsedUrl(scheme, "", "", query)
        raise _invalid(text, "neither an absolute URI nor an absolute path")
    host = ""
    if rest.startswith("//") and (scheme or (not request and not rest.startswith("///"))):
        authority, slash, path = rest[2:].partition("/")
        host = _parse_authority(text, authority)
        rest = slash + path
    _check_escapes(text, rest)
    return ParsedUrl(scheme, host, rest, query)


def _split_scheme(text: str, rest: str) -> tuple[str, str]:
    for index, char in enumerate(rest):
        if char == ":":
            if index == 0:
                raise _invalid(text, "missing protocol scheme")
            return rest[:index].lower(), rest[index + 1 :]
        if char not in _SCHEME_CHARACTERS or (index == 0 and not char.isalpha()):
            break
    return "", rest


def _parse_authority(text: str, authority: str) -> str:
    userinfo, at, host = authority.rpartition("@")
    if at and not set(userinfo) <= _USERINFO_CHARACTERS:
        raise _invalid(text, "invalid userinfo")
    if host.startswith("["):
        closing = host.rfind("]")
        if closing < 0:
            raise _invalid(text, "missing ']' in host")
        port = host[closing + 1 :]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
    if not _PORT.fullmatch(port):
        raise _invalid(text, f"invalid port {port!r} after host")
    for char in host:
        if char < "\x80" and char not in _HOST_CHARACTERS:
            raise _invalid(text, f"invalid character {char!r} in host name")
    if _ASCII_HOST_ESCAPE.search(host):
        raise _invalid(text, "invalid %-escape in host name")
    _check_escapes(text, host)
    return unquote_to_bytes(host).decode(errors="replace")


def _check_escapes(text: str, part: str) -> None:
    bad = _BAD_ESCAPE.search(part)
    if bad is not None:
        raise _invalid(text, f"invalid URL escape {part[bad.start() : bad.start() + 3]!r}")


def _split_host_port(host: str) -> tuple[str, str]:
    name, port = host, ""
    colon = host.rfind(":")
    if colon >= 0 and _PORT.fullmatch(host[colon:]):
        name, port = host[:colon], host[colon + 1 :]
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name, port


def _parsed(value: Any) -> ParsedUrl:
    return parse_url(functions.unwrap(value, MARKER, "a URL, as made by url('https://example.com')"))


def _url(text: str) -> dict[str, str]:
    parse_url(text)
    return {MARKER: text}


def parse_request_uri(text: str) -> ParsedUrl:
    """Go's ParseRequestURI alone decides isURL, as in Kubernetes."""
    return _split(text, request=True)


def _get_scheme(value: Any) -> str:
    return _parsed(value).scheme


def _get_host(value: Any) -> str:
    return _parsed(value).host


def _get_hostname(value: Any) -> str:
    return _split_host_port(_parsed(value).host)[0]


def _get_port(value: Any) -> str:
    return _split_host_port(_parsed(value).host)[1]


def _get_escaped_path(value: Any) -> str:
    raw = _parsed(value).raw_path
    if set(raw) <= _ENCODED_PATH_CHARACTERS:
        return raw
    return quote_from_bytes(unquote_to_bytes(raw), safe="$&+,/:;=@")


def _get_query(value: Any) -> dict[str, list[str]]:
    """Go's ParseQuery: pairs with a ';' or a broken %-escape are skipped."""
    query: dict[str, list[str]] = {}
    for pair in _parsed(value).raw_query.split("&"):
        if not pair or ";" in pair or _BAD_ESCAPE.search(pair):
            continue
        key, _, item = pair.partition("=")
        query.setdefault(unquote_plus(key, errors="replace"), []).append(unquote_plus(item, errors="replace"))
    return query


def declarations() -> list[functions.Declaration]:
    member = functions.member
    function = functions.function
    return [
        function("url", "string_to_url", "map", ("string",), _url),
        function("isURL", "is_url_string", "bool", ("string",), functions.recognizer(parse_request_uri)),
        member("getScheme", "url_get_scheme", "string", ("map",), _get_scheme),
        member("getHost", "url_get_host", "string", ("map",), _get_host),
        member("getHostname", "url_get_hostname", "string", ("map",), _get_hostname),
        member("getPort", "url_get_port", "string", ("map",), _get_port),
        member("getEscapedPath", "url_get_escaped_path", "string", ("map",), _get_escaped_path),
        member("getQuery", "url_get_query", "map", ("map",), _get_query),
    ]
