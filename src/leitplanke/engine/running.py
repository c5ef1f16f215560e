"""Running the engine: the three calls of its public door (``leitplanke.engine``).

``compile`` once, then ``evaluate`` one document (admission, agent, portal pre-flight) or
``scan`` trees of sources into a sink (CLI, CI, service seeding): one evaluation path for all.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from leitplanke.core.documents import Document, Origin
from leitplanke.core.policies import Policy
from leitplanke.core.results import Result
from leitplanke.core.waivers import Waiver
from leitplanke.engine import contexts, evaluating, policysets, scanning, sinks

S = TypeVar("S")


def compile(
    policies: Sequence[Policy], *, options: policysets.CompileOptions = policysets.DEFAULTS
) -> policysets.PolicySet:
    """Compile ``policies`` (and ``options.foreign``) into an immutable ``PolicySet``; what was
    wrong with them is in its ``problems``, never raised."""
    return policysets.compile_set(policies, options=options)


def evaluate(
    policy_set: policysets.PolicySet,
    document: Document | Mapping[str, Any],
    *,
    context: contexts.Context = contexts.NO_REQUEST,
) -> builtins.list[Result]:
    """The results of every per-document rule of the policies matching ``document``, in policy
    then rule order. Set-level rules (``collect``) need the other documents: ``scan`` runs them.

    A plain mapping is taken as a Kubernetes object read from nowhere (file ``""``).
    """
    if not isinstance(document, Document):
        document = Document(body=document, origin=Origin(file=""))
    return evaluating.evaluate_document(policy_set.compiled, document, context=context).results


def scan(
    policy_set: policysets.PolicySet,
    sources: Sequence[S],
    sink: sinks.Sink,
    *,
    load: scanning.Loader[S],
    now: datetime,
    waivers: Sequence[Waiver] = (),
    jobs: int = 0,
    on_progress: Callable[[int], None] | None = None,
    context: contexts.Context = contexts.NO_REQUEST,
    namespaces: Mapping[str, Mapping[str, Any]] | None = None,
) -> sinks.Scanned:
    """Every document ``load`` finds in ``sources``, evaluated into ``sink`` (results in report
    order), with ``waivers`` applied as of ``now``; ``jobs`` forked workers (0: one per core).

    A document's results are those ``evaluate`` gives it with the same ``context``, waived,
    followed by those of set-level rules. ``namespaces`` (the scanned set's Namespace objects
    by name) gives a document in one of them that Namespace as ``namespace_object``.
    """
    return scanning.scan(
        policy_set.compiled,
        sources,
        sink,
        load=load,
        now=now,
        waivers=waivers,
        jobs=jobs,
        on_progress=on_progress,
        context=context,
        namespaces=namespaces,
    )
