"""The webhook of the test policies and config, started once per module (``webhookservers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webhookservers import CONFIG, POLICIES, Webhook, start_webhook, stop


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    """Only the test policies, with the test config's admission section."""
    served = start_webhook(
        tmp_path_factory.mktemp("webhook"),
        "--pack",
        "none",
        "--policies",
        str(POLICIES),
        "--config",
        str(CONFIG),
    )
    yield served
    stop(served)
