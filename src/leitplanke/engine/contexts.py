"""What an evaluation knows besides the document: the admission request around it.

The admission webhook, the cluster agent, the portal and the CLI build a ``Context`` and pass
it to ``evaluating``; native CEL rules read it as ``request``, ``oldObject`` and
``namespaceObject``, and the compatibility front-ends map it to what Kyverno (``request.*``),
VAP (``request``, ``oldObject``, ``namespaceObject``) and Gatekeeper (``input.review``) read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


@dataclass(frozen=True, slots=True)
class SuiteInputs:
    """What a policy test suite supplies that no admission request carries (Kyverno CLI's values
    and user files): the user's roles, labels of namespaces the suite does not contain, and the
    variables one policy reads, as ``leitplanke test`` hands them to ``evaluate``."""

    roles: tuple[str, ...] = ()
    cluster_roles: tuple[str, ...] = ()
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # name → labels
    namespaces: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name → Namespace object
    variables: Mapping[str, Any] = field(default_factory=dict)  # global and per-resource values
    rule_variables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # rule → its values


@dataclass(frozen=True, slots=True)
class Context:
    """The request an object arrives in. ``operation=""`` (the default) means no request at all:
    a file on disk, as ``scan`` sees it; the object is then all a rule has."""

    operation: str = ""  # CREATE | UPDATE | DELETE | CONNECT, or "" outside admission
    old_object: Mapping[str, Any] | None = None  # UPDATE and DELETE: the object as it was
    user_info: Mapping[str, Any] = field(default_factory=dict)  # username, uid, groups, extra
    namespace_object: Mapping[str, Any] | None = None  # the Namespace the object lives in
    environment: str = ""  # the environment name the caller evaluates for (dev, prod, …)
    dry_run: bool = False
    sub_resource: str = ""  # "status", "scale", …, as admission names it
    uid: str = ""  # the AdmissionReview request's uid, when there is one
    # the Pod Security Standards version for a Namespace that pins none: "" (latest), "latest"
    # or "v1.N" (``pssversions``); ``scan --pss-version`` and Kyverno's podSecurity.version set it
    pss_version: str = ""
    suite: SuiteInputs | None = None  # a policy test suite's inputs, when ``leitplanke test`` evaluates


NO_REQUEST = Context()
