"""Compatibility engines: policies written for Kyverno (and later VAP, Gatekeeper) run unchanged.

``engine.loading`` hands foreign documents to ``build_foreign``; the modules here turn them into
foreign ``CompiledPolicy`` values the evaluator runs through ``compiling.ForeignRules``.
"""
