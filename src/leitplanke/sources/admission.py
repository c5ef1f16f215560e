"""Parsing an ``admission.k8s.io/v1`` AdmissionReview (the bytes the API server posts) into the
object to evaluate and the request around it; strict, pure, bounded in size by the caller.

Called by the admission webhook (``service/admission``); bad input comes back as a
``ReviewError`` value with a stable code and the field it is about, never as an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from leitplanke.core.documents import Document, Origin

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


@dataclass(frozen=True, slots=True)
class ReviewError:
    """Why a review cannot be evaluated. ``uid`` is the request's, when it could be read, so
    that the caller can still answer with a well-formed AdmissionReview."""

    code: (
        str  # malformed-json | not-an-object | wrong-api-version | wrong-kind | missing-field | invalid-field
    )
    field: str  # the field path in the review: request.uid, request.object, …
    message: str
    uid: str = ""


@dataclass(frozen=True, slots=True)
class Review:
    """One admission request: the object to evaluate and what surrounds it."""

    uid: str
    document: Document  # the object; on DELETE the old object (the API server sends no object)
    operation: str
    namespace: str
    old_object: Mapping[str, Any] | None = None
    user_info: Mapping[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    sub_resource: str = ""
    kind: Mapping[str, Any] = field(default_factory=dict)  # request.kind: group, version, kind


def parse_review(body: bytes) -> Review | ReviewError:
    """The review in ``body``, or what is wrong with it (the first thing, in reading order)."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return ReviewError("malformed-json", "", f"the body is not JSON: {exc}")
    if not isinstance(raw, dict):
        return ReviewError("not-an-object", "", "the body must be a JSON object (an AdmissionReview)")
    request = raw.get("request")
    uid = _uid_of(request)
    if raw.get("apiVersion") != API_VERSION:
        return ReviewError(
            "wrong-api-version",
            "apiVersion",
            f"apiVersion must be {API_VERSION}, not {raw.get('apiVersion')!r}",
            uid,
        )
    if raw.get("kind") != KIND:
        return ReviewError("wrong-kind", "kind", f"kind must be {KIND}, not {raw.get('kind')!r}", uid)
    if not isinstance(request, dict):
        return ReviewError("missing-field", "request", "the review has no request object")
    if not uid:
        return ReviewError("missing-field", "request.uid", "the request has no uid (a non-empty string)")
    return _request(request, uid)


def _uid_of(request: object) -> str:
    if isinstance(request, dict):
        uid = request.get("uid")
        if isinstance(uid, str):
            return uid
    return ""


def _request(request: dict[str, Any], uid: str) -> Review | ReviewError:
    operation = request.get("operation")
    if operation not in OPERATIONS:
        return ReviewError(
            "invalid-field", "request.operation", f"operation must be one of {', '.join(OPERATIONS)}", uid
        )
    checked = {name: request.get(name) for name in ("object", "oldObject", "userInfo", "kind")}
    for name, value in checked.items():
        if value is not None and not isinstance(value, dict):
            return ReviewError("invalid-field", f"request.{name}", f"request.{name} must be an object", uid)
    obj, old = checked["object"], checked["oldObject"]
    # DELETE carries no object: the object being deleted is the old one
    evaluated = old if operation == "DELETE" and obj is None else obj
    if evaluated is None:
        return ReviewError("missing-field", "request.object", f"a {operation} request needs an object", uid)
    dry_run = request.get("dryRun", False)
    if not isinstance(dry_run, bool):
        return ReviewError("invalid-field", "request.dryRun", "request.dryRun must be true or false", uid)
    sub_resource = request.get("subResource") or ""
    namespace = request.get("namespace") or ""
    if not isinstance(sub_resource, str) or not isinstance(namespace, str):
        field_name = "subResource" if not isinstance(sub_resource, str) else "namespace"
        return ReviewError(
            "invalid-field", f"request.{field_name}", f"request.{field_name} must be a string", uid
        )
    return Review(
        uid=uid,
        document=Document(body=evaluated, origin=Origin(file=f"admission:{uid}")),
        operation=operation,
        namespace=namespace,
        old_object=old,
        user_info=checked["userInfo"] or {},
        dry_run=dry_run,
        sub_resource=sub_resource,
        kind=checked["kind"] or {},
    )
