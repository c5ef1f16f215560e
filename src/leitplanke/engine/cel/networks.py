"""Kubernetes' CEL IP and CIDR libraries: `ip('10.0.0.1')`, `cidr('10.0.0.0/8').containsIP(...)`.

Pure Python, no CEL import: `engine.cel` registers `declarations()` with the runtime. The
runtime has no opaque types, so an address travels as `{"__ip__": "<canonical>"}` and a
network as `{"__cidr__": "<canonical address>/<bits>"}`; equal values make equal maps.
Semantics follow Go's net/netip, which Kubernetes uses.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from leitplanke.engine.cel import functions

IP_MARKER = "__ip__"
CIDR_MARKER = "__cidr__"
TYPE_NAME_FUNCTION = "leitplanke.typeNameOf"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_PREFIX_BITS = re.compile(r"0|[1-9][0-9]{0,2}")


def parse_ip(text: str) -> Address:
    """An IPv4 or IPv6 address as Kubernetes accepts it: no zone, no IPv4-mapped IPv6."""
    if "%" in text:
        raise TypeError(f"invalid IP address {text!r}: zones are not allowed")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise TypeError(f"invalid IP address {text!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise TypeError(f"invalid IP address {text!r}: IPv4-mapped IPv6 addresses are not allowed")
    return address


def parse_cidr(text: str) -> tuple[Address, int]:
    """An address with a prefix length; bits after the prefix are kept, as in Go's ParsePrefix."""
    address_text, slash, bits_text = text.partition("/")
    if not slash:
        raise TypeError(f"invalid CIDR {text!r}: no '/' and prefix length")
    try:
        address = parse_ip(address_text)
    except TypeError as exc:
        raise TypeError(f"invalid CIDR {text!r}: {exc}") from None
    if not _PREFIX_BITS.fullmatch(bits_text) or int(bits_text) > address.max_prefixlen:
        raise TypeError(f"invalid CIDR {text!r}: bad prefix length {bits_text!r}")
    return address, int(bits_text)


def build_ip(address: Address) -> dict[str, str]:
    return {IP_MARKER: str(address)}


def build_cidr(address: Address, bits: int) -> dict[str, str]:
    return {CIDR_MARKER: f"{address}/{bits}"}


def _address_of(value: Any) -> Address:
    return parse_ip(functions.unwrap(value, IP_MARKER, "an IP address, as made by ip('10.0.0.1')"))


def _network_of(value: Any) -> tuple[Address, int]:
    return parse_cidr(functions.unwrap(value, CIDR_MARKER, "a CIDR, as made by cidr('10.0.0.0/8')"))


def _masked(address: Address, bits: int) -> int:
    host_bits = address.max_prefixlen - bits
    return int(address) >> host_bits << host_bits


# --- ip ----------------------------------------------------------------------------------


def _ip(text: str) -> dict[str, str]:
    return build_ip(parse_ip(text))


def _is_canonical(text: str) -> bool:
    return str(parse_ip(text)) == text


def _family(value: Any) -> int:
    return _address_of(value).version


def _is_unspecified(value: Any) -> bool:
    return _address_of(value).is_unspecified


def _is_loopback(value: Any) -> bool:
    return _address_of(value).is_loopback


def _is_link_local_multicast(value: Any) -> bool:
    address = _address_of(value)
    if address.version == 4:
        return int(address) >> 8 == 0xE00000  # 224.0.0.0/24
    return (int(address) >> 112) & 0xFF0F == 0xFF02  # ff02::/16 with any flags, as Go


def _is_link_local_unicast(value: Any) -> bool:
    return _address_of(value).is_link_local


def _is_global_unicast(value: Any) -> bool:
    """Go's definition: private ranges count as global unicast."""
    address = _address_of(value)
    if address.version == 4 and int(address) == 0xFFFFFFFF:
        return False
    return not (
        address.is_unspecified or address.is_loopback or address.is_multicast or address.is_link_local
    )


def _to_string(value: Any) -> str:
    if isinstance(value, dict) and IP_MARKER in value:
        return str(_address_of(value))
    if isinstance(value, dict) and CIDR_MARKER in value:
        address, bits = _network_of(value)
        return f"{address}/{bits}"
    raise TypeError("string() of a map needs an IP address or a CIDR")


# --- cidr --------------------------------------------------------------------------------


def _cidr(text: str) -> dict[str, str]:
    return build_cidr(*parse_cidr(text))


def _contains(network: tuple[Address, int], address: Address, bits: int) -> bool:
    network_address, network_bits = network
    return (
        network_address.version == address.version
        and network_bits <= bits
        and _masked(network_address, network_bits) == _masked(address, network_bits)
    )


def _contains_ip(value: Any, other: Any) -> bool:
    address = parse_ip(other) if isinstance(other, str) else _address_of(other)
    return _contains(_network_of(value), address, address.max_prefixlen)


def _contains_cidr(value: Any, other: Any) -> bool:
    address, bits = parse_cidr(other) if isinstance(other, str) else _network_of(other)
    return _contains(_network_of(value), address, bits)


def _cidr_ip(value: Any) -> dict[str, str]:
    return build_ip(_network_of(value)[0])


def _cidr_masked(value: Any) -> dict[str, str]:
    address, bits = _network_of(value)
    return build_cidr(type(address)(_masked(address, bits)), bits)


def _prefix_length(value: Any) -> int:
    return _network_of(value)[1]


def type_name_of(wrapped: list[Any]) -> str:
    """`net.IP` or `net.CIDR` for an address or a network, "" for anything else.

    The runtime has no custom types, so ``cel.rewriting`` turns `type(x) == net.IP` into
    `leitplanke.typeNameOf([x]) == 'net.IP'` (the list lets one overload take any value).
    """
    value = wrapped[0] if len(wrapped) == 1 else None
    if isinstance(value, dict) and len(value) == 1:
        if IP_MARKER in value:
            return "net.IP"
        if CIDR_MARKER in value:
            return "net.CIDR"
    return ""


def declarations() -> list[functions.Declaration]:
    member = functions.member
    function = functions.function
    return [
        function("ip", "string_to_ip", "map", ("string",), _ip),
        function("isIP", "is_ip", "bool", ("string",), functions.recognizer(parse_ip)),
        function("ip.isCanonical", "ip_is_canonical", "bool", ("string",), _is_canonical),
        member("family", "ip_family", "int", ("map",), _family),
        member("isUnspecified", "ip_is_unspecified", "bool", ("map",), _is_unspecified),
        member("isLoopback", "ip_is_loopback", "bool", ("map",), _is_loopback),
        member(
            "isLinkLocalMulticast", "ip_is_link_local_multicast", "bool", ("map",), _is_link_local_multicast
        ),
        member("isLinkLocalUnicast", "ip_is_link_local_unicast", "bool", ("map",), _is_link_local_unicast),
        member("isGlobalUnicast", "ip_is_global_unicast", "bool", ("map",), _is_global_unicast),
        function("string", "ip_or_cidr_to_string", "string", ("map",), _to_string),
        function("cidr", "string_to_cidr", "map", ("string",), _cidr),
        function("isCIDR", "is_cidr", "bool", ("string",), functions.recognizer(parse_cidr)),
        member("containsIP", "cidr_contains_ip_string", "bool", ("map", "string"), _contains_ip),
        member("containsIP", "cidr_contains_ip_ip", "bool", ("map", "map"), _contains_ip),
        member("containsCIDR", "cidr_contains_cidr_string", "bool", ("map", "string"), _contains_cidr),
        member("containsCIDR", "cidr_contains_cidr", "bool", ("map", "map"), _contains_cidr),
        member("ip", "cidr_ip", "map", ("map",), _cidr_ip),
        member("masked", "cidr_masked", "map", ("map",), _cidr_masked),
        member("prefixLength", "cidr_prefix_length", "int", ("map",), _prefix_length),
        function(TYPE_NAME_FUNCTION, "leitplanke_type_name_of", "string", ("list",), type_name_of),
    ]
