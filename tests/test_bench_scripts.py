"""The benchmark scripts (``bench/``) import against the package as it is now: a module moved or renamed
in ``src`` breaks ``make bench`` only when someone runs it, so each script is imported here (their work
is under ``if __name__ == "__main__"``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(path.stem for path in BENCH.glob("*.py"))


def test_the_bench_folder_holds_the_scripts_the_readme_names() -> None:
    assert {"run_bench", "portal_bench", "service_bench", "agent_bench", "admission_bench"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_bench_script_imports(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    module = importlib.import_module(name)
    assert module.__file__ == str(BENCH / f"{name}.py")
    monkeypatch.delitem(sys.modules, name)
