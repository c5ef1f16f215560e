"""Kyverno's CEL ``user`` library: ``parseServiceAccount(username)`` for ValidatingPolicies.

Pure Python, no CEL import: ``engine.cel`` registers ``declarations()``. A username that is not
``system:serviceaccount:<namespace>:<name>`` gives empty fields, as Kyverno's library does.
"""

from __future__ import annotations

from leitplanke.engine.cel import functions

_PREFIX = "system:serviceaccount:"


def parse_service_account(username: str) -> dict[str, str]:
    """``{"Namespace": …, "Name": …}``; both empty unless ``username`` names a service account."""
    namespace, name = "", ""
    if username.startswith(_PREFIX):
        rest = username[len(_PREFIX) :]
        if ":" in rest:
            namespace, _, name = rest.partition(":")
    return {"Namespace": namespace, "Name": name}


def declarations() -> list[functions.Declaration]:
    return [
        functions.function(
            "parseServiceAccount",
            "kyverno_parse_service_account_string",
            "map",
            ("string",),
            parse_service_account,
        )
    ]
