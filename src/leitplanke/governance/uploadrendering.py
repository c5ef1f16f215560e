"""Writing the ``leitplanke.dev/upload/v2`` format (``uploadformats`` says what each line may hold and
checks it): the header line, one line per result that is not a pass, one line of pass counts per
resource. Written by the CLI's ``scan --upload`` and the cluster agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from leitplanke.core.results import Resource, Result
from leitplanke.governance import uploadformats


def render_header(
    *,
    app: str,
    env: str,
    generated_at: str,
    summary: Mapping[str, Any],
    source: str = uploadformats.DEFAULT_SOURCE,
) -> bytes:
    """The header line of a v2 upload, with its newline (``source`` left out when it is ``ci``, which
    older services read as they always did)."""
    header = {
        "schemaVersion": uploadformats.SCHEMA_VERSION,
        "app": app,
        "env": env,
        "generatedAt": generated_at,
        "summary": summary,
    }
    if source != uploadformats.DEFAULT_SOURCE:
        header["source"] = source
    return orjson.dumps(header) + b"\n"


def _resource_value(resource: Resource) -> dict[str, str]:
    value = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "namespace": resource.namespace,
        "name": resource.name,
    }
    if resource.domain != "kubernetes":
        value["domain"] = resource.domain
    return value


def render_result(result: Result) -> bytes:
    """One result line with its newline: the fields the service reads, the message cut to
    ``uploadformats.MAX_MESSAGE`` (a scanned value may bring a NUL into it: the service refuses those, so
    they become U+FFFD here)."""
    message = uploadformats.UNSAFE_TEXT.sub("\ufffd", result.message)
    if len(message) > uploadformats.MAX_MESSAGE:
        message = message[: uploadformats.MAX_MESSAGE - 1] + "…"
    value: dict[str, Any] = {
        "policy": result.policy,
        "rule": result.rule,
        "verdict": result.verdict.value,
        "severity": result.severity.label,
        "message": message,
        "resource": _resource_value(result.resource),
        "location": {"path": uploadformats.UNSAFE_TEXT.sub("\ufffd", result.location.path)},
    }
    if result.waiver:
        value["waiver"] = result.waiver
    if result.category:
        value["category"] = uploadformats.UNSAFE_TEXT.sub("\ufffd", result.category)[
            : uploadformats.MAX_CATEGORY
        ]
    return orjson.dumps(value) + b"\n"


def render_passes(resource: Resource, count: int) -> bytes:
    """The pass count line of one resource, with its newline."""
    return orjson.dumps({"passes": count, "resource": _resource_value(resource)}) + b"\n"
