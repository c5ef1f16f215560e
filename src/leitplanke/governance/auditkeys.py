"""The audit log's keys: the HMAC key of the chain and the Ed25519 key that signs its checkpoints.

``load_audit_keys`` is called at the edges (``service.create_app``, ``cli``) with the paths of the
settings; the ``AuditKeys`` it returns travel with the ``Database`` to ``auditing`` and
``checkpoints``. The only module that imports ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from leitplanke.core.problems import LeitplankeError

MIN_KEY_BYTES = 32


class AuditKeyError(LeitplankeError):
    """An audit key file cannot be read, created or parsed."""

    code = "audit-key"


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """What the chain and its checkpoints need; ``checkpoint_dir`` lies outside the database."""

    hmac_key: bytes
    signing_key: ed25519.Ed25519PrivateKey
    public_key: ed25519.Ed25519PublicKey
    checkpoint_dir: Path

    def mac(self, message: bytes) -> str:
        return hmac.new(self.hmac_key, message, hashlib.sha256).hexdigest()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.signing_key.sign(message)).decode("ascii")

    def signed(self, message: bytes, signature: str) -> bool:
        """Whether ``signature`` (base64) is this key's Ed25519 signature of ``message``."""
        try:
            self.public_key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def key_id(self) -> str:
        """A short name of the public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]


def build_keys(*, hmac_key: bytes, signing_key: ed25519.Ed25519PrivateKey, checkpoint_dir: Path) -> AuditKeys:
    if len(hmac_key) < MIN_KEY_BYTES:
        raise AuditKeyError(f"the audit HMAC key has {len(hmac_key)} bytes: at least {MIN_KEY_BYTES} needed")
    return AuditKeys(
        hmac_key=hmac_key,
        signing_key=signing_key,
        public_key=signing_key.public_key(),
        checkpoint_dir=checkpoint_dir,
    )


def generate_keys(checkpoint_dir: Path) -> AuditKeys:
    """Fresh keys in memory (tests and throwaway databases)."""
    return build_keys(
        hmac_key=secrets.token_bytes(MIN_KEY_BYTES),
        signing_key=ed25519.Ed25519PrivateKey.generate(),
        checkpoint_dir=checkpoint_dir,
    )


def load_audit_keys(*, key_file: Path, signing_key_file: Path, checkpoint_dir: Path) -> AuditKeys:
    """Keys from their files, each created (mode 0600) when missing so that a first start works.

    The HMAC key file holds hex (at least 32 bytes); the signing key file an unencrypted PKCS#8
    PEM Ed25519 private key. In production both are mounted from secrets and never created here.
    """
    if not key_file.exists():
        _create(key_file, secrets.token_hex(MIN_KEY_BYTES).encode("ascii") + b"\n")
    if not signing_key_file.exists():
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _create(signing_key_file, pem)
    return build_keys(
        hmac_key=_parse_hmac_key(key_file, _read(key_file)),
        signing_key=_parse_signing_key(signing_key_file, _read(signing_key_file)),
        checkpoint_dir=checkpoint_dir,
    )


def _create(path: Path, content: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
    except FileExistsError:
        return  # another process created it first: read theirs
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot create the audit key: {exc.strerror or exc}") from exc


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot read the audit key: {exc.strerror or exc}") from exc


def _parse_hmac_key(path: Path, content: bytes) -> bytes:
    try:
        return bytes.fromhex(content.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise AuditKeyError(f"{path}: the audit HMAC key is not hexadecimal") from None


def _parse_signing_key(path: Path, content: bytes) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(content, password=None)
    except (ValueError, TypeError) as exc:
        raise AuditKeyError(f"{path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise AuditKeyError(f"{path}: the audit signing key must be Ed25519")
    return key
