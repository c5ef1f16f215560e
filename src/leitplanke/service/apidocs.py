"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their scripts,
styles and icon served from the package (``static/``, fetched by ``scripts/update-docs-assets.sh``):
no page loads anything from another host, so the documentation works in an air-gapped network.

Installed by ``apps.create_app``. An asset's address holds its digest (``static/assets.json``): cached
for a year, and a new version of an asset gets a new address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import FileResponse, HTMLResponse, Response

from leitplanke.service import problems

STATIC = Path(__file__).parent / "static"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# an address with the asset's digest never changes its content; any other is checked on every use
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
DIGEST_LENGTH = 16
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".txt": "text/plain"}
# Swagger UI's defaults that would reach another host: the validator badge of the spec
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# the pages load nothing from another host: ReDoc 2 shows Redocly's logo from its CDN in the sidebar,
# which the browser does not fetch under this policy. Inline scripts and styles: the pages' own
# initialisation; blob: workers: ReDoc's search
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "frame-ancestors 'self'",
    )
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One served file: ``key`` is ``<package folder>/<file name>``; ``sha256`` from the manifest."""

    key: str
    path: Path
    sha256: str

    @property
    def url(self) -> str:
        return f"{ASSETS}/{self.sha256[:DIGEST_LENGTH]}/{self.key}"

    @property
    def media_type(self) -> str:
        # LICENSE and NOTICE have no suffix: plain text
        return MEDIA_TYPES.get(self.path.suffix, "text/plain")


@dataclass(frozen=True, slots=True)
class Assets:
    """The served files by key; the manifest also records each npm package's version and licence."""

    files: dict[str, Asset]

    def url(self, key: str) -> str:
        return self.files[key].url


def load_assets(static: Path = STATIC) -> Assets:
    """The files ``static/assets.json`` lists with their digests (the files are read when served)."""
    manifest: dict[str, Any] = json.loads((static / "assets.json").read_text(encoding="utf-8"))
    files = {}
    for folder, entry in manifest.items():
        for name, sha256 in entry["files"].items():
            key = f"{folder}/{name}"
            files[key] = Asset(key=key, path=static / folder / name, sha256=sha256)
    return Assets(files=files)


def docs_router(*, title: str, openapi_url: str, assets: Assets) -> APIRouter:
    """``/docs``, its OAuth2 redirect page, ``/redoc`` and the assets (none in the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)
    favicon = assets.url("swagger-ui/favicon-32x32.png")

    @router.get("/docs")
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=root + OAUTH2_REDIRECT,
            swagger_js_url=root + assets.url("swagger-ui/swagger-ui-bundle.js"),
            swagger_css_url=root + assets.url("swagger-ui/swagger-ui.css"),
            swagger_favicon_url=root + favicon,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        return _page(page)

    @router.get(OAUTH2_REDIRECT)
    def swagger_ui_redirect() -> HTMLResponse:
        return _page(get_swagger_ui_oauth2_redirect_html())

    @router.get("/redoc")
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=root + assets.url("redoc/redoc.standalone.js"),
            redoc_favicon_url=root + favicon,
            # the fonts would come from another host; ReDoc falls back to the system's
            with_google_fonts=False,
        )
        return _page(page)

    @router.get(ASSETS + "/{digest}/{folder}/{name}")
    def asset(digest: str, folder: str, name: str, request: Request) -> Response:
        return serve_asset(
            assets, f"{folder}/{name}", digest=digest, if_none_match=request.headers.get("if-none-match")
        )

    return router


def serve_asset(assets: Assets, key: str, *, digest: str, if_none_match: str | None) -> Response:
    """The file under ``key``: cached for a year at its own digest's address; 304 when the caller has it."""
    found = assets.files.get(key)
    if found is None:
        raise problems.Refusal(404, "Not found", detail=f"no documentation asset {key!r}", field="path")
    current = digest == found.sha256[:DIGEST_LENGTH]
    etag = f'"{found.sha256[:32]}"'
    headers = {
        "Cache-Control": IMMUTABLE if current else REVALIDATE,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match is not None and etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return FileResponse(found.path, media_type=found.media_type, headers=headers)


def _page(page: HTMLResponse) -> HTMLResponse:
    """A documentation page: small, and names the current assets' addresses, so never kept stale."""
    page.headers["Cache-Control"] = REVALIDATE
    page.headers["Content-Security-Policy"] = POLICY
    return page
