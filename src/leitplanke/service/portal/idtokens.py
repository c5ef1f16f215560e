"""OIDC ID tokens verified through PyJWT, the only module that imports it: the signature against the
provider's JWKS, then iss, aud, exp, iat and the nonce. Called by ``oidcsigning``; every failure is a
``Refused`` with a stable code, never PyJWT's own exception.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import jwt

# asymmetric only: "none" and the HMAC family (the client secret as a key) are never accepted
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
LEEWAY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Refused:
    code: str  # bad-token | bad-signature | wrong-issuer | wrong-audience | expired | wrong-nonce
    reason: str


def verify(
    id_token: str, *, jwks: dict[str, Any], issuer: str, client_id: str, nonce: str, now: float
) -> dict[str, Any] | Refused:
    """The claims of a valid ID token for this client and this sign-in's nonce, else why not."""
    try:
        header = jwt.get_unverified_header(id_token)
        key = _key(jwks, kid=header.get("kid"), alg=header.get("alg"))
        if isinstance(key, Refused):
            return key
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key=key,
            algorithms=list(ALGORITHMS),
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            # PyJWT would read the system clock: exp is checked below against the service's clock
            options={"require": ["iss", "aud", "exp", "sub"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        return Refused("bad-signature", "the ID token's signature does not match the provider's keys")
    except jwt.InvalidAudienceError:
        return Refused("wrong-audience", "the ID token was issued for another client")
    except jwt.InvalidIssuerError:
        return Refused("wrong-issuer", "the ID token was issued by another provider")
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        return Refused("bad-token", f"the ID token is not valid: {exc}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp + LEEWAY_SECONDS <= now:
        return Refused("expired", "the ID token has expired")
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        return Refused("wrong-audience", "the ID token was issued for another client (azp)")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        return Refused("wrong-nonce", "the ID token does not belong to this sign-in (nonce)")
    return claims


def _key(jwks: dict[str, Any], *, kid: object, alg: object) -> Any:
    """The public key of the JWKS that the header names (its ``kid``; the only key when there is one)."""
    if alg not in ALGORITHMS:
        return Refused("bad-token", f"the ID token's algorithm {alg!r} is not accepted")
    try:
        keys = jwt.PyJWKSet.from_dict(jwks).keys
    except jwt.PyJWTError as exc:
        return Refused("bad-token", f"the provider's JWKS cannot be read: {exc}")
    signing = [key for key in keys if key.public_key_use in (None, "sig")]
    chosen = [key for key in signing if key.key_id == kid] if kid is not None else signing
    if len(chosen) != 1:
        return Refused("bad-signature", f"no single key {kid!r} in the provider's JWKS")
    return chosen[0].key
