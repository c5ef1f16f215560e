"""Governance: the catalog, the findings lifecycle, SLAs, access and the tamper-evident audit chain.

Use cases take a ``store.databases.Database`` and own their transaction; ``now`` is always injected.
"""
