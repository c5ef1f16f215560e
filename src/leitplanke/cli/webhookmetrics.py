"""The metrics directory shared by the workers of ``leitplanke webhook --workers``: made private and
fresh by the supervisor's process before prometheus_client is imported, forgotten worker by worker as
they exit, removed when the supervisor stops. Used by ``cli/webhook`` and ``cli/supervising``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class ImportOrderError(RuntimeError):
    """prometheus_client was imported before the directory existed: its values would stay per process."""


@contextmanager
def shared_directory() -> Iterator[Path]:
    """A fresh directory (mode 0700) named in ``PROMETHEUS_MULTIPROC_DIR`` for this process and those it
    forks, then removed with what the workers wrote there."""
    # prometheus_client picks its value class (per process or in files) when ``values`` is imported
    if "prometheus_client.values" in sys.modules:
        raise ImportOrderError("prometheus_client was imported before the workers' metrics directory")
    directory = Path(tempfile.mkdtemp(prefix="leitplanke-webhook-metrics-"))
    previous = os.environ.get(VARIABLE)
    os.environ[VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(VARIABLE, None)
        else:
            os.environ[VARIABLE] = previous
        shutil.rmtree(directory, ignore_errors=True)


def forget_worker(pid: int, *, directory: Path) -> None:
    """After a worker exits: its live gauges leave the sums (its counters stay: they count what it did)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path=str(directory))  # type: ignore[no-untyped-call]  # untyped upstream
