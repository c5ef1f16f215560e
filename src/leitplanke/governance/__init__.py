"""Governance: the findings lifecycle, SLAs, waivers, access and the tamper-evident audit chain.

Use cases take a ``store.databases.Database`` and own their transaction; ``now`` is always injected.
"""
