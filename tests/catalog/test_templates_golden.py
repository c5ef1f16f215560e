"""Each template rendered with its defaults, compared byte for byte with a golden file under
``tests/catalog/golden/`` (rewritten only with ``LEITPLANKE_REGENERATE_GOLDEN=1``): a change to a
template shows up in review as a change to the manifests it writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leitplanke.catalog import scaffolding, templatelibrary, templating

GOLDEN = Path(__file__).parent / "golden"
LIBRARY = templatelibrary.load_library()
TARGET = scaffolding.Target(
    app="checkout", team="team-shop", environment="production", value_stream="commerce"
)


def _rendered(name: str) -> str:
    result = scaffolding.render(
        LIBRARY.templates[name], values={}, target=TARGET, environment=templating.build_environment()
    )
    assert result.errors == []
    return "".join(f"# Source: {f.name}\n{f.text.rstrip()}\n" for f in result.files)


@pytest.mark.parametrize("name", sorted(LIBRARY.templates))
def test_each_template_renders_its_defaults_as_its_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.yaml"
    text = _rendered(name)
    if os.environ.get("LEITPLANKE_REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing; run with LEITPLANKE_REGENERATE_GOLDEN=1 to write it")
    assert text == path.read_text(encoding="utf-8")
