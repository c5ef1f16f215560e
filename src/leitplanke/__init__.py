"""leitplanke: governance guardrails for Kubernetes and the configuration around it.

The public surface is small on purpose; everything else lives in the layered
subpackages described in DESIGN.md (core › engine/sources › reports › cli).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
