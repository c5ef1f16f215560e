"""The OIDC provider as the portal talks to it over HTTP (stdlib urllib): its discovery document, its JWKS
and the code exchange at its token endpoint (PKCE verifier, client secret). Bounded answers, short timeouts;
failures are ``ProviderError`` with the step named. Called by ``oidcsigning``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from leitplanke.settings import OidcSettings

MAX_BYTES = 256 * 1024
TIMEOUT_SECONDS = 10.0
DISCOVERY_FOR_SECONDS = 3600.0


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable (``step`` says where)."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str
    jwks: str


class Provider:
    """One provider's endpoints, discovered once an hour (thread-safe)."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._endpoints: tuple[float, Endpoints] | None = None

    def endpoints(self) -> Endpoints:
        with self._lock:
            if self._endpoints is not None and time.monotonic() - self._endpoints[0] < DISCOVERY_FOR_SECONDS:
                return self._endpoints[1]
        found = _discover(self.settings.issuer)
        with self._lock:
            self._endpoints = (time.monotonic(), found)
        return found

    def jwks(self) -> dict[str, Any]:
        keys = _get_json(self.endpoints().jwks, step="jwks")
        if not isinstance(keys.get("keys"), list):
            raise ProviderError("jwks", "no list of keys")
        return keys

    def exchange(self, *, code: str, verifier: str) -> str:
        """The ID token for an authorization code (client_secret_basic, PKCE)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_url,
            "code_verifier": verifier,
            "client_id": self.settings.client_id,
        }
        quote = urllib.parse.quote
        basic = f"{quote(self.settings.client_id, safe='')}:{quote(self.settings.client_secret, safe='')}"
        headers = {
            "Authorization": "Basic " + base64.b64encode(basic.encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = urllib.parse.urlencode(form).encode()
        answer = _request(self.endpoints().token, step="token", data=body, headers=headers)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise ProviderError("token", "the answer has no id_token")
        return id_token


def authorization_url(
    endpoints: Endpoints, settings: OidcSettings, *, state: str, nonce: str, challenge: str
) -> str:
    query = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_url,
        "scope": "openid profile email",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    joiner = "&" if "?" in endpoints.authorization else "?"
    return endpoints.authorization + joiner + urllib.parse.urlencode(query)


def _discover(issuer: str) -> Endpoints:
    document = _get_json(issuer + "/.well-known/openid-configuration", step="discovery")
    if document.get("issuer") != issuer:
        raise ProviderError("discovery", f"the document names issuer {document.get('issuer')!r}")
    urls = [document.get(name) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
    for url in urls:
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            raise ProviderError("discovery", f"endpoint {url!r} is not a URL")
    return Endpoints(authorization=str(urls[0]), token=str(urls[1]), jwks=str(urls[2]))


def _get_json(url: str, *, step: str) -> dict[str, Any]:
    return _request(url, step=step, data=None, headers={})


def _request(url: str, *, step: str, data: bytes | None, headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            raw = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ProviderError(step, f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ProviderError(step, f"cannot reach {url}: {exc}") from None
    if len(raw) > MAX_BYTES:
        raise ProviderError(step, f"answer larger than {MAX_BYTES} bytes")
    try:
        document = json.loads(raw)
    except ValueError:
        raise ProviderError(step, "the answer is not JSON") from None
    if not isinstance(document, dict):
        raise ProviderError(step, "the answer is not a JSON object")
    return document
