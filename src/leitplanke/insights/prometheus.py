"""The Prometheus HTTP API adapter: ``query_range`` with bearer-token or basic auth, the answer parsed
into ``Series`` and bounded in size; every transport or protocol failure wrapped in ``PrometheusError``.
The only module that talks to Prometheus; ``insights.containers`` asks it for the runtime series::

    LeitplankeError
     └── PrometheusError          code "prometheus"
          ├── PrometheusUnreachable   no answer: refused, unknown host, timeout
          └── PrometheusRefused       an answer that refuses: 4xx/5xx, status "error", too large, malformed
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx
import orjson

from leitplanke.core.problems import LeitplankeError

DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # one answer, decoded: bounds the memory a hostile server can take
DEFAULT_TIMEOUT = 30.0


class PrometheusError(LeitplankeError):
    code = "prometheus"


class PrometheusUnreachable(PrometheusError):
    code = "prometheus-unreachable"


class PrometheusRefused(PrometheusError):
    code = "prometheus-refused"

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Credentials:
    """A bearer token, or a user and password for basic auth; neither: no Authorization header."""

    bearer_token: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    def headers(self) -> dict[str, str]:
        if self.bearer_token:
            return {"Authorization": f"Bearer {self.bearer_token}"}
        return {}

    def basic(self) -> httpx.BasicAuth | None:
        return httpx.BasicAuth(self.username, self.password) if self.username else None


@dataclass(frozen=True, slots=True)
class Series:
    """One time series of a range query: its labels, and (unix seconds, value) in time order."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class RangeQueries(Protocol):
    """What the analyses read: a Prometheus, or the demo's generated series (``insights.demoseries``)."""

    def query_range(
        self, query: str, *, start: datetime, end: datetime, step_seconds: float
    ) -> list[Series]: ...


class Prometheus:
    """A client of one Prometheus (or anything speaking its HTTP API: Thanos, Mimir, VictoriaMetrics).

    ``transport`` is the seam for tests that run in-process; the real tests start a real Prometheus.
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials = Credentials(),
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/api/v1/query_range"
        self._max_bytes = max_bytes
        self._client = httpx.Client(
            headers={**credentials.headers(), "User-Agent": "leitplanke-insights"},
            auth=credentials.basic(),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def query_range(self, query: str, *, start: datetime, end: datetime, step_seconds: float) -> list[Series]:
        """The matrix ``query`` yields from ``start`` to ``end`` every ``step_seconds``."""
        params = {
            "query": query,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{step_seconds:g}",
        }
        body = self._post(params)
        return parse_matrix(body, query=query)

    def _post(self, params: Mapping[str, str]) -> bytes:
        try:
            with self._client.stream("POST", self._url, data=dict(params)) as response:
                chunks = self._read_bounded(response.iter_bytes())
                status = response.status_code
        except httpx.TransportError as exc:
            raise PrometheusUnreachable(f"{self._url}: {type(exc).__name__}: {exc}") from exc
        if status >= 400:
            raise PrometheusRefused(f"{self._url} answered {status}: {_error_of(chunks)}", status=status)
        return chunks

    def _read_bounded(self, chunks: Iterator[bytes]) -> bytes:
        body = bytearray()
        for chunk in chunks:
            body += chunk
            if len(body) > self._max_bytes:
                raise PrometheusRefused(f"{self._url}: the answer exceeds {self._max_bytes} bytes")
        return bytes(body)


def parse_matrix(body: bytes, *, query: str = "") -> list[Series]:
    """A ``query_range`` answer (``{"status": "success", "data": {"resultType": "matrix", ...}}``)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PrometheusRefused(f"{query}: the answer is not JSON") from exc
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise PrometheusRefused(f"{query}: {_error_of(body)}")
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise PrometheusRefused(f"{query}: the answer is not a matrix")
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusRefused(f"{query}: data.result is not a list")
    return [_series(item, query=query) for item in result]


def _series(item: object, *, query: str) -> Series:
    if not isinstance(item, dict):
        raise PrometheusRefused(f"{query}: a series is not an object")
    metric, values = item.get("metric"), item.get("values")
    if not isinstance(metric, dict) or not isinstance(values, list):
        raise PrometheusRefused(f"{query}: a series lacks metric or values")
    points = []
    for pair in values:
        try:
            at, text = pair
            value = float(text)
            points.append((float(at), value))
        except (TypeError, ValueError) as exc:
            raise PrometheusRefused(f'{query}: a sample is not [time, "value"]') from exc
    labels = {str(k): str(v) for k, v in metric.items()}
    return Series(labels=labels, points=tuple(p for p in points if math.isfinite(p[1])))


def _error_of(body: bytes) -> str:
    """Prometheus's own error text when the body carries one, else a short, printable excerpt."""
    try:
        answer = orjson.loads(body)
        if isinstance(answer, dict) and "error" in answer:
            return f"{answer.get('errorType', 'error')}: {str(answer['error'])[:300]}"
    except orjson.JSONDecodeError:
        pass
    return body[:200].decode("utf-8", "replace").encode("ascii", "backslashreplace").decode("ascii")
