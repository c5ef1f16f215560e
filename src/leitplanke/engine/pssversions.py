"""Versions of the Pod Security Standards: which one a pod is judged by, as a minor number.

Pod Security admission reads ``pod-security.kubernetes.io/<mode>-version`` on the pod's
Namespace (``latest`` or ``v1.N``); ``evaluating`` binds the answer as ``pssVersion`` for the
pss-baseline and pss-restricted packs, whose rules compare it with the minor a check changed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LATEST_MINOR = 37  # the newest version of the standard the packs implement (Kubernetes v1.37)
LATEST = "latest"
LABEL_PREFIX = "pod-security.kubernetes.io/"
# which mode's version label pins the version when a Namespace sets several: the one that
# blocks first, then the one that records, then the one that only warns
MODES = ("enforce", "audit", "warn")
_VERSION = re.compile(r"v1\.(0|[1-9][0-9]*)")


def parse_version(text: str) -> int | None:
    """The minor of ``latest`` or ``v1.N`` (clamped to ``LATEST_MINOR``, as admission clamps a
    version newer than its newest check); None for anything else."""
    if text == LATEST:
        return LATEST_MINOR
    found = _VERSION.fullmatch(text)
    if found is None:
        return None
    return min(int(found.group(1)), LATEST_MINOR)


def pinned_version(namespace_object: Mapping[str, Any] | None) -> int | None:
    """The minor a Namespace's version label pins, or None when it pins none.

    A label with a value admission cannot parse means ``latest``, as admission reads it.
    """
    if not isinstance(namespace_object, Mapping):
        return None
    metadata = namespace_object.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return None
    for mode in MODES:
        value = labels.get(f"{LABEL_PREFIX}{mode}-version")
        if value is not None:
            parsed = parse_version(str(value))
            return LATEST_MINOR if parsed is None else parsed
    return None


def version_for(namespace_object: Mapping[str, Any] | None, default: str) -> int:
    """The minor a pod in ``namespace_object`` is judged by: the Namespace's pin, else
    ``default`` (``""`` or ``latest`` for the newest; the caller has checked it parses)."""
    pinned = pinned_version(namespace_object)
    if pinned is not None:
        return pinned
    parsed = parse_version(default or LATEST)
    return LATEST_MINOR if parsed is None else parsed
