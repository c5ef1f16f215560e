"""The policy engine's public door: compile once, evaluate one document, scan trees into a sink.

    policy_set = engine.compile(policies, options=engine.CompileOptions(...))
    results = engine.evaluate(policy_set, document, context=engine.Context(operation="CREATE"))
    scanned = engine.scan(policy_set, sources, sink, load=..., now=...)

Callers use only these names; the modules behind them (``compiling``, ``evaluating``,
``scanning``, ``collecting``, ``compat``, ``cel``) are the engine's own business.
"""

from __future__ import annotations

from leitplanke.engine.contexts import OPERATIONS, Context
from leitplanke.engine.policysets import CompileOptions, PolicySet
from leitplanke.engine.running import compile, evaluate, scan
from leitplanke.engine.scanning import Loader, apply_waivers
from leitplanke.engine.sinks import Collected, Findings, Renderer, Scanned, Sink, Spooled

__all__ = [
    "OPERATIONS",
    "Collected",
    "CompileOptions",
    "Context",
    "Findings",
    "Loader",
    "PolicySet",
    "Renderer",
    "Scanned",
    "Sink",
    "Spooled",
    "apply_waivers",
    "compile",
    "evaluate",
    "scan",
]
