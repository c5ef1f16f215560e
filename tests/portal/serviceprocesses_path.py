"""Puts tests/service on the import path, for its ``serviceprocesses`` (one helper starts a real serve)."""

import sys
from pathlib import Path

_SERVICE = str(Path(__file__).resolve().parents[1] / "service")
if _SERVICE not in sys.path:
    sys.path.append(_SERVICE)
