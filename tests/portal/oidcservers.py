"""A small real OIDC provider on loopback for the portal's OIDC tests: discovery, a JWKS with an RSA key
made by ``cryptography``, an authorize endpoint that redirects back with a code, and a token endpoint that
checks the client secret and the PKCE verifier and returns an RS256 ID token signed by hand (not with the
library under test). ``Behaviour`` makes it misbehave: another nonce, audience, expiry or signing key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLIENT_ID = "leitplanke-portal"
CLIENT_SECRET = "s3cret-of-the-portal"
KID = "key-1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Behaviour:
    """What the next ID token says (None: the right value)."""

    now: datetime
    name: str = "alice"
    groups: list[str] = field(default_factory=lambda: ["staff", "shop-devs"])
    nonce: str | None = None
    audience: str | None = None
    expires_in: timedelta = timedelta(minutes=5)
    other_key: bool = False  # sign with a key that is not in the JWKS (same kid)


@dataclass
class Provider:
    issuer: str
    behaviour: Behaviour
    key: rsa.RSAPrivateKey
    other: rsa.RSAPrivateKey
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": b64(n), "e": b64(e)}]}

    def id_token(self, nonce: str) -> str:
        b = self.behaviour
        claims = {
            "iss": self.issuer,
            "sub": f"sub-{b.name}",
            "aud": b.audience or CLIENT_ID,
            "iat": int(b.now.timestamp()),
            "exp": int((b.now + b.expires_in).timestamp()),
            "nonce": b.nonce or nonce,
            "preferred_username": b.name,
            "groups": b.groups,
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": KID}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
        key = self.other if b.other_key else self.key
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{b64(signature)}"


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": provider.issuer,
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token",
                        "jwks_uri": f"{provider.issuer}/jwks",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    },
                )
            elif parts.path == "/jwks":
                self._json(200, provider.jwks())
            elif parts.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query
                back = urlencode({"code": code, "state": query["state"]})
                self.send_response(302)
                self.send_header("Location", f"{query['redirect_uri']}?{back}")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            provider.token_requests.append(form)
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {basic}":
                self._json(401, {"error": "invalid_client"})
                return
            asked = provider.codes.pop(form.get("code", ""), None)
            challenge = b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
            if (
                asked is None
                or asked["code_challenge"] != challenge
                or asked["redirect_uri"] != form.get("redirect_uri")
            ):
                self._json(400, {"error": "invalid_grant"})
                return
            token = provider.id_token(asked["nonce"])
            self._json(200, {"access_token": "at", "token_type": "Bearer", "id_token": token})

    return Handler


@contextmanager
def serving(behaviour: Behaviour) -> Iterator[Provider]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    provider = Provider(
        issuer=f"http://127.0.0.1:{server.server_address[1]}",
        behaviour=behaviour,
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        other=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    server.RequestHandlerClass = _handler(provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
