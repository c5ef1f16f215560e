"""What the engine keeps between runs (compiled CEL, parsed packs): where, and how it is written.

``cel`` and ``loading`` name their files after everything the contents depend on; this module
only finds the folder and writes a file so that a reader never sees half of it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_directory() -> Path | None:
    """``$LEITPLANKE_CACHE_DIR``, else ``$XDG_CACHE_HOME/leitplanke``, else
    ``~/.cache/leitplanke``; ``LEITPLANKE_CACHE_DIR=off`` keeps nothing."""
    configured = os.environ.get("LEITPLANKE_CACHE_DIR")
    if configured is not None:
        return None if configured in ("", "off") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leitplanke"


def keep(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` whole or not at all (another scan may be reading it).

    Best effort: a cache that cannot be written is skipped, never an error; returns whether
    it was written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as out:
            out.write(data)
        os.replace(out.name, path)
    except OSError:
        return False
    return True
