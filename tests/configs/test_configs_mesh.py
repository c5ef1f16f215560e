"""The mesh and proxy packs pass their own policy tests, which load fixture files through ``sources.files``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leitplanke.engine import loading, testing
from leitplanke.sources import files

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("pack", ["mesh", "proxy"])
def test_every_policy_test_of_the_pack_holds(pack: str) -> None:
    directory = loading.pack_directory(pack)
    report = testing.run_tests([str(directory / "tests")], load_resources=files.load_path, now=NOW)
    assert report.problems == []
    assert [row for row in report.rows if not row.ok] == []
    assert report.passed >= 30


def test_istio_policies_leave_gateway_api_gateways_alone() -> None:
    loaded = loading.load_packs(["mesh"], now=NOW)
    gateway = next(p for p in loaded.policies if p.id == "require-gateway-tls")
    assert gateway.match.api_groups == ("networking.istio.io",)
