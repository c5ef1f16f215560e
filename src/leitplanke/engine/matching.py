"""Matching: does a policy's ``match`` select a document (kind aside, which the index did)?

Namespace include/exclude with ``*`` patterns, Kubernetes label selectors
(``matchLabels`` and ``matchExpressions``), API groups and domains. Pure.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from leitplanke.core.documents import Document
from leitplanke.core.policies import Match


def matches(match: Match, doc: Document) -> bool:
    if match.domains and doc.domain not in match.domains:
        return False
    if match.api_groups and api_group(doc.api_version) not in match.api_groups:
        return False
    namespace = doc.namespace
    if match.namespaces and not any(fnmatch.fnmatchcase(namespace, p) for p in match.namespaces):
        return False
    if match.exclude_namespaces and any(fnmatch.fnmatchcase(namespace, p) for p in match.exclude_namespaces):
        return False
    return not match.label_selector or selects(match.label_selector, doc.labels)


def api_group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Kubernetes label-selector semantics; an empty selector selects everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_holds(expression, labels) for expression in selector.get("matchExpressions") or ())


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    key = expression.get("key", "")
    operator = expression.get("operator", "")
    values = expression.get("values") or ()
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False
