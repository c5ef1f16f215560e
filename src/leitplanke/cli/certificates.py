"""The webhook's TLS: one ``SSLContext`` (TLS 1.2 and up) kept for the server's life, its
certificate chain reloaded when the files change, so that new handshakes use the new chain; with a
client CA, callers must present a certificate it signed (mTLS).

Used by ``cli/webhook``: ``Certificates.context`` goes to Uvicorn, ``watch`` runs on its loop.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from leitplanke.core.problems import UsageError

CHECK_SECONDS = 1.0


@dataclass
class Certificates:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None  # mTLS: a client certificate signed by this CA is required
    context: ssl.SSLContext = field(init=False)
    _stamp: tuple[float, float, int, int] = field(init=False, default=(0.0, 0.0, 0, 0))

    def __post_init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            self._stamp = self._stamp_now()
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                f"cannot load the certificate {self.cert_file} and key {self.key_file}: {exc}"
            ) from exc
        if self.client_ca_file is not None:
            try:
                self.context.load_verify_locations(cafile=self.client_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"cannot load the client CA {self.client_ca_file}: {exc}") from exc
            # a handshake without a certificate of this CA fails: no request is read from such a caller
            self.context.verify_mode = ssl.CERT_REQUIRED

    def _stamp_now(self) -> tuple[float, float, int, int]:
        cert, key = self.cert_file.stat(), self.key_file.stat()
        return (cert.st_mtime, key.st_mtime, cert.st_size, key.st_size)

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed since the last load; True when the live context
        now holds the new chain. A pair that does not load (a half-written rotation) keeps the
        old chain and is tried again at the next check."""
        try:
            stamp = self._stamp_now()
            if stamp == self._stamp:
                return False
            # try the pair on a scratch context first: a failed load can leave a context half-changed
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.cert_file, self.key_file)
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError):
            return False
        self._stamp = stamp
        return True

    async def watch(self) -> None:
        """Check once a second, on the server's own loop: handshakes run there too, so a reload
        never races one."""
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            self.reload_if_changed()
