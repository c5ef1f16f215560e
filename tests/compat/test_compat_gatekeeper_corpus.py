"""The Gatekeeper library corpus (../shared/corpus/gatekeeper) scored per engine, as the issue's bar measures it."""

from __future__ import annotations

from pathlib import Path

import pytest

from leitplanke.engine.compat.gatekeeper import gatortests
from leitplanke.sources import files

CORPUS = Path(__file__).parents[2].parent / "shared" / "corpus" / "gatekeeper"
# the rates reached so far: a ratchet, raise it when the engine improves (the bar is 0.95)
# the bar is 0.95; every DEV case agrees today (ratchet kept a little below, so a
# harmless message difference does not fail CI while the held-out part is scored separately)
FLOORS = {"gatekeeper-rego": 0.99, "gatekeeper-cel": 0.99}


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared Gatekeeper corpus is absent ({CORPUS})")
def test_compat_gatekeeper_corpus_agrees_per_engine_at_least_as_often_as_before() -> None:
    report = gatortests.run_tests([str(CORPUS)], load_resources=files.load_path)
    table = report.by_family()
    print("\nengine            cases  agree      %")
    for family, (cases, agree) in table.items():
        print(f"{family:<17} {cases:>5}  {agree:>5}  {agree / cases:6.1%}")
    for row in report.rows:
        if not row.ok:
            print(
                f"FAIL {row.family} {row.test}:{row.line} {row.rule}: want {row.expected}, got {row.actual}"
            )
    assert set(table) == set(FLOORS)
    for family, (cases, agree) in table.items():
        assert agree / cases >= FLOORS[family], family
