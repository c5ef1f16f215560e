"""Pure values shared by every layer: documents, policies, results, waivers, problems.

Nothing here performs I/O or imports a third-party runtime.
"""
