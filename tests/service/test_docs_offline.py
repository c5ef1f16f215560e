"""The API documentation works offline: /docs (Swagger UI) and /redoc (ReDoc) load their scripts, styles
and icon from the service itself.

In-process: the pages name only the service's own assets, which answer with their content type and
cache headers, and the files match the versions and digests of ``static/assets.json``. With a real
browser: Debian's Chromium (driven by Playwright, no browser download) loads both pages from a real
``leitplanke serve`` with every request to another host aborted, renders them, and the screenshot of
/docs is kept in ``build/test-artefacts/``. Without Chromium or Playwright the browser test is skipped,
and fails under CI=true.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import serviceprocesses
from fastapi.testclient import TestClient

import leitplanke
from leitplanke.service import apidocs, create_app
from leitplanke.settings import Settings
from leitplanke.store import databases

LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
# the server runs the code under test (the tests' own import path), not whatever the venv installed
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])
ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artefacts"
CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 60_000


@pytest.fixture
def client(tmp_path: Path, audit_keys: Any) -> Iterator[TestClient]:
    """The application in-process (no lifespan: the pages need no database)."""
    database = databases.Database(f"sqlite:///{tmp_path / 'docs.db'}", audit=audit_keys)
    app = create_app(Settings(database_url=database.url, migrate_on_start=False), database=database)
    yield TestClient(app)
    database.dispose()


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_the_pages_name_only_assets_the_service_serves_itself(client: TestClient) -> None:
    docs, redoc = client.get("/docs"), client.get("/redoc")
    assets = apidocs.load_assets()
    assert (docs.status_code, docs.headers["cache-control"]) == (200, "no-cache")
    assert _asset_urls(docs.text) == [
        assets.url("swagger-ui/swagger-ui.css"),
        assets.url("swagger-ui/favicon-32x32.png"),
        assets.url("swagger-ui/swagger-ui-bundle.js"),
    ]
    assert "url: '/openapi.json'" in docs.text
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in docs.text
    assert '"validatorUrl": null' in docs.text
    assert _asset_urls(redoc.text) == [
        assets.url("swagger-ui/favicon-32x32.png"),
        assets.url("redoc/redoc.standalone.js"),
    ]
    assert '<redoc spec-url="/openapi.json"></redoc>' in redoc.text
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "http" not in "".join(_asset_urls(redirect.text))


def test_an_asset_answers_with_its_type_a_year_of_cache_and_304_when_the_caller_has_it(
    client: TestClient,
) -> None:
    assets = apidocs.load_assets()
    answers = {
        key: client.get(assets.url(key))
        for key in (
            "swagger-ui/swagger-ui-bundle.js",
            "swagger-ui/swagger-ui.css",
            "swagger-ui/favicon-32x32.png",
            "redoc/redoc.standalone.js",
        )
    }
    assert {
        key: (answer.status_code, answer.headers["content-type"], answer.headers["cache-control"])
        for key, answer in answers.items()
    } == {
        "swagger-ui/swagger-ui-bundle.js": (200, "text/javascript; charset=utf-8", apidocs.IMMUTABLE),
        "swagger-ui/swagger-ui.css": (200, "text/css; charset=utf-8", apidocs.IMMUTABLE),
        "swagger-ui/favicon-32x32.png": (200, "image/png", apidocs.IMMUTABLE),
        "redoc/redoc.standalone.js": (200, "text/javascript; charset=utf-8", apidocs.IMMUTABLE),
    }
    script = answers["redoc/redoc.standalone.js"]
    assert script.headers["x-content-type-options"] == "nosniff"
    assert script.content == (apidocs.STATIC / "redoc" / "redoc.standalone.js").read_bytes()
    again = client.get(
        assets.url("redoc/redoc.standalone.js"), headers={"If-None-Match": script.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")
    stale = client.get("/docs/assets/0000000000000000/redoc/redoc.standalone.js")
    assert (stale.status_code, stale.headers["cache-control"]) == (200, "no-cache")
    missing = client.get("/docs/assets/0000000000000000/redoc/secrets.js")
    assert (missing.status_code, missing.json()["detail"]) == (
        404,
        "no documentation asset 'redoc/secrets.js'",
    )


def test_the_checked_in_assets_are_the_recorded_versions_with_their_licences() -> None:
    manifest = json.loads((apidocs.STATIC / "assets.json").read_text())
    assert {
        folder: (entry["package"], entry["version"], entry["license"]) for folder, entry in manifest.items()
    } == {
        "swagger-ui": ("swagger-ui-dist", "5.36.0", "Apache-2.0"),
        "redoc": ("redoc", "2.5.4", "MIT"),
    }
    on_disk = {
        f"{folder}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in manifest
        for path in sorted((apidocs.STATIC / folder).iterdir())
    }
    recorded = {
        f"{folder}/{name}": digest
        for folder, entry in manifest.items()
        for name, digest in entry["files"].items()
    }
    assert on_disk == recorded
    assert {"swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE"} <= set(recorded)
    assert "Apache License" in (apidocs.STATIC / "swagger-ui" / "LICENSE").read_text()
    assert "MIT License" in (apidocs.STATIC / "redoc" / "LICENSE").read_text()


# --- a real browser without network ---------------------------------------------------------------------


def _browser_or_skip() -> Any:
    """Playwright's sync API and Chromium, or a skip (a failure under CI=true) that says what is missing."""
    missing = []
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing.append(f"Debian's chromium at {CHROMIUM} (bash scripts/setup-system.sh as root)")
    if missing:
        message = "the offline /docs browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return sync_api


@pytest.fixture
def served(tmp_path: Path, audit_keys: object) -> Iterator[str]:
    """``leitplanke serve`` on a free loopback port over SQLite in tmp_path: its base URL."""
    port = serviceprocesses.free_port()
    env = {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": f"sqlite:///{tmp_path / 'docs.db'}",
        "LEITPLANKE_DATA_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }
    with serviceprocesses.serving(
        [LEITPLANKE, "serve", "--host", "127.0.0.1", "--port", str(port)], port=port, cwd=tmp_path, env=env
    ):
        yield f"http://127.0.0.1:{port}"


def test_docs_and_redoc_render_in_chromium_with_every_other_host_unreachable(served: str) -> None:
    sync_api = _browser_or_skip()
    own = urlsplit(served).netloc
    foreign: list[str] = []
    errors: list[str] = []
    console: list[str] = []
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")

    def only_this_service(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own:
            foreign.append(url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    with sync_api.sync_playwright() as playwright:
        # the host resolver resolves nothing but loopback: whatever escaped the route would fail too
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
            timeout=TIMEOUT_MS,
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
            context.route("**/*", only_this_service)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
            page.on(
                "console", lambda line: console.append(f"{urlsplit(page.url).path}: {line.type}: {line.text}")
            )

            page.goto(served + "/docs", wait_until="networkidle")
            upload = page.locator(".opblock-summary-path[data-path='/api/v1/scans']")
            upload.first.wait_for(state="visible")
            assert page.locator(".info .title").first.inner_text().startswith("leitplanke")
            assert page.locator("section.models").get_by_text("Problem", exact=True).count() == 1
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / "docs-offline.png"))

            page.goto(served + "/redoc", wait_until="networkidle")
            title = page.locator("h1").filter(has_text="leitplanke")
            title.first.wait_for(state="visible")
            assert title.first.inner_text().startswith("leitplanke")
            assert page.get_by_text("/api/v1/scans").count() >= 1
            page.screenshot(path=str(ARTEFACTS / "redoc-offline.png"))
        finally:
            browser.close()
    assert foreign == []
    assert errors == []
    # the one thing either page would fetch from another host, refused by the page's policy
    assert console == [
        "/redoc: error: Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates the following"
        " Content Security Policy directive: \"img-src 'self' data:\". The action has been blocked."
    ]
    assert (ARTEFACTS / "docs-offline.png").stat().st_size > 10_000
