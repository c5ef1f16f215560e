"""The images of a resource as Kyverno's ``images`` variable has them: per container group and
container name, each reference split into registry, path, name, tag and digest.

Read by ``validating.build_data`` for every rule's JSON context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leitplanke.core import documents


def images_of(body: Mapping[str, Any]) -> dict[str, Any]:
    spec = documents.pod_spec_of(body)
    result: dict[str, Any] = {}
    if spec is None:
        return result
    for group in ("containers", "initContainers", "ephemeralContainers"):
        found = {
            str(c.get("name", "")): parse_image(str(c.get("image", "")))
            for c in spec.get(group) or []
            if isinstance(c, Mapping)
        }
        if found:
            result[group] = found
    return result


def parse_image(reference: str) -> dict[str, str]:
    rest, _, digest = reference.partition("@")
    registry, path = "docker.io", rest
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    tag = ""
    if ":" in path.rsplit("/", 1)[-1]:
        path, _, tag = path.rpartition(":")
    if not tag and not digest:
        tag = "latest"
    name = path.rsplit("/", 1)[-1]
    return {
        "registry": registry,
        "path": path,
        "name": name,
        "tag": tag,
        "digest": digest,
        "reference": reference,
    }
