"""The states of a finding and the rules that move it, as a table: which scan sweeps which finding, what
a status becomes on what a scan observed. ``findings`` applies them when a scan is ingested.
"""

from __future__ import annotations

NEW, OPEN, FIXED, REOPENED, WAIVED = "new", "open", "fixed", "reopened", "waived"
STATUSES = (NEW, OPEN, FIXED, REOPENED, WAIVED)
CI, DRIFT, ADMISSION = "ci", "drift", "admission"  # sources (``uploadformats.SOURCE``)
RUNTIME = "runtime"  # leaks and OOM kills judged from Prometheus (``insights.runtimefindings``)


def sweeps(source: str, *, reported_by: str) -> bool:
    """Whether a scan of ``source`` fixes a finding ``reported_by`` last that it does not report.

    Its own findings only; and those of admission decisions (which never report what passes) by any
    scan but drift's and runtime's, which evaluate no policy."""
    if reported_by == source:
        return True
    return reported_by == ADMISSION and not is_drift(source) and source != RUNTIME


def is_drift(source: str) -> bool:
    """``drift`` (``leitplanke drift --upload``) or ``cluster:<name>:drift`` (the agent's drift)."""
    return source == DRIFT or source.endswith(":" + DRIFT)


def next_status(current: str | None, *, observed: str | None) -> str:
    """The lifecycle as a table. ``observed`` is "fail", "waived" or None (passes or not reported)."""
    if observed == "waived":
        return WAIVED
    if observed == "fail":
        if current is None:
            return NEW
        return REOPENED if current == FIXED else OPEN
    return FIXED  # no longer reported: every status ends in fixed
