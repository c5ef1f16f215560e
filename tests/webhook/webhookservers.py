"""Helpers for the webhook tests: the real ``leitplanke webhook`` in a subprocess on a loopback port, over TLS with a test CA
made here by ``cryptography``, and a client that posts AdmissionReviews to it over HTTPS."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = Path(__file__).parent
POLICIES = HERE / "policies" / "webhook-policies.yaml"
CONFIG = HERE / "policies" / "leitplanke.yaml"
SRC = HERE.parent.parent / "src"


@dataclass
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem: Path

    def issue(self, folder: Path, *, common_name: str) -> None:
        """A server certificate for 127.0.0.1 named ``common_name``, as tls.crt and tls.key."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # the key first: the server sees the new pair only when both are written
        (folder / "tls.key.new").write_bytes(key_pem)
        (folder / "tls.crt.new").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        os.replace(folder / "tls.key.new", folder / "tls.key")
        os.replace(folder / "tls.crt.new", folder / "tls.crt")


def make_authority(folder: Path) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leitplanke test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = folder / "ca.crt"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(key, cert, pem)


@dataclass
class Webhook:
    port: int
    ca: Path
    folder: Path
    process: subprocess.Popen[bytes]
    log: Path
    authority: Authority
    client_cert: tuple[Path, Path] | None = None  # (certificate, key) this client presents (mTLS)

    def client_context(self, **versions: ssl.TLSVersion) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if self.client_cert is not None:
            context.load_cert_chain(*self.client_cert)
        for name, value in versions.items():
            setattr(context, name, value)
        return context

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.client_context(), timeout=30
        )
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def review(
        self, review: dict[str, Any] | bytes, *, path: str = "/validate"
    ) -> tuple[int, dict[str, Any]]:
        body = review if isinstance(review, bytes) else json.dumps(review).encode()
        status, answer = self.request("POST", path, body)
        return status, json.loads(answer)

    def peer_common_name(self) -> str:
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw,
            self.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            cert = tls.getpeercert()
        subject = dict(pair[0] for pair in cert["subject"])  # type: ignore[index]
        return str(subject["commonName"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_webhook(folder: Path, *args: str, client_cert: tuple[Path, Path] | None = None) -> Webhook:
    authority = make_authority(folder)
    authority.issue(folder, common_name="webhook-1")
    port = free_port()
    log = folder / "webhook.log"
    command = [
        sys.executable, "-m", "leitplanke.cli", "webhook",
        "--cert-file", str(folder / "tls.crt"), "--key-file", str(folder / "tls.key"),
        "--port", str(port), "--host", "127.0.0.1", *args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder)
    webhook = Webhook(port, authority.pem, folder, process, log, authority, client_cert)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the webhook exited {process.returncode}: {log.read_text()}")
        try:
            if webhook.request("GET", "/healthz")[0] == 200:
                return webhook
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the webhook did not answer: {log.read_text()}")


def stop(webhook: Webhook) -> None:
    webhook.process.terminate()
    try:
        webhook.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        webhook.process.kill()
