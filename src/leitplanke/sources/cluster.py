"""The Kubernetes API, as the cluster agent reads and writes it: the only module importing the client.

Built on the official client (``kubernetes``) for what it does best, kubeconfig and in-cluster
credentials (certificates, tokens, exec plugins); requests go through its ``ApiClient`` as raw JSON
(no generated models: 50,000 objects stay plain dicts). Called by ``leitplanke.agent``; every failure
is a ``ClusterError`` with the HTTP status, ``Gone`` for 410.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from kubernetes import client as kube_client, config as kube_config
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from leitplanke.core.documents import Document, Origin
from leitplanke.core.problems import SourceError, UsageError

APPLY_PATCH = "application/apply-patch+yaml"
_READ_TIMEOUT = 60.0


class ClusterError(SourceError):
    """The API server refused or could not be reached (``status`` 0). ``retry_after`` in seconds (429)."""

    code = "cluster"

    def __init__(self, message: str, *, status: int = 0, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Gone(ClusterError):
    """410: the resourceVersion asked for is older than the server keeps; list again."""

    code = "cluster-gone"


@dataclass(frozen=True, slots=True)
class Connection:
    """One API server with its credentials; safe to share between threads (urllib3's pool)."""

    api: Any  # kubernetes.client.ApiClient
    host: str

    def get(self, path: str, *, query: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET ``path`` (``/api/v1/pods``) as JSON."""
        response = self._call("GET", path, query=query)
        try:
            return _json(response.data)
        finally:
            response.release_conn()

    def watch(self, path: str, *, query: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """The events of a watch on ``path`` (``watch=1`` added), one dict each, until the server ends it."""
        seconds = float(query.get("timeoutSeconds") or 300)
        # the server ends the watch after timeoutSeconds: a silent connection past that is a dead one
        response = self._call("GET", path, query={**query, "watch": "1"}, read_timeout=seconds + 60)
        try:
            pending = b""
            for chunk in response.stream(65536, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield _json(line)
        except HTTPError as exc:
            raise ClusterError(f"the watch on {path} broke off: {exc}") from exc
        finally:
            response.release_conn()

    def apply(self, path: str, body: Mapping[str, Any], *, field_manager: str, force: bool) -> dict[str, Any]:
        """Server-side apply of ``body`` at ``path`` (the object's own path)."""
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        content = orjson.dumps(body).decode()  # JSON is YAML: sent as apply-patch+yaml
        response = self._call("PATCH", path, query=query, body=content, content_type=APPLY_PATCH)
        try:
            return _json(response.data)
        finally:
            response.release_conn()

    def delete(self, path: str) -> None:
        """DELETE ``path``; an object already gone is fine."""
        try:
            response = self._call("DELETE", path)
        except ClusterError as exc:
            if exc.status == 404:
                return
            raise
        response.release_conn()

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: str | None = None,
        content_type: str = "",
        read_timeout: float = 0.0,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        _, url, headers, _, _ = self.api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        timeout = (10.0, read_timeout or _READ_TIMEOUT)
        try:
            response = self.api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=timeout
            )
        except (HTTPError, kube_client.ApiException, OSError) as exc:
            raise ClusterError(f"{method} {path}: no answer from {self.host}: {exc}") from exc
        raw = response.response
        if raw.status < 300:
            return raw
        _raise_status(method, path, raw)
        raise AssertionError("unreachable")


def _raise_status(method: str, path: str, raw: Any) -> None:
    """The error an answer of 300 or more means, raised with the server's own message."""
    data = raw.data
    raw.release_conn()
    try:
        message = str(json.loads(data).get("message", ""))
    except (ValueError, AttributeError):
        message = data[:200].decode("utf-8", "replace") if isinstance(data, bytes) else ""
    text = f"{method} {path}: {raw.status} {message}".rstrip()
    retry_after = raw.headers.get("Retry-After", "")
    wait = float(retry_after) if retry_after.isdigit() else 0.0
    if raw.status == 410:
        raise Gone(text, status=410)
    raise ClusterError(text, status=raw.status, retry_after=wait)


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ClusterError(f"the API server sent what is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ClusterError("the API server sent JSON that is not an object")
    return value


def connect(*, kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """The API server of ``kubeconfig`` (its ``context``), or the pod's own (in-cluster) without one."""
    configuration = kube_client.Configuration()
    try:
        if kubeconfig:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]  # the client is untyped
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        else:
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        where = kubeconfig or "the in-cluster service account"
        raise UsageError(f"no usable Kubernetes configuration in {where}: {exc}") from exc
    configuration.retries = False  # the agent backs off itself, honouring Retry-After
    configuration.connection_pool_maxsize = 128  # a watch per served type holds a connection
    return Connection(api=kube_client.ApiClient(configuration), host=str(configuration.host))


def document_of(body: Mapping[str, Any], *, cluster: str) -> Document:
    """A live object as a ``Document``; its origin names the cluster and the object (no file, no line)."""
    metadata = body.get("metadata") or {}
    namespace = metadata.get("namespace") or ""
    where = f"{namespace}/" if namespace else ""
    file = f"cluster:{cluster}/{body.get('kind', '')}/{where}{metadata.get('name', '')}"
    return Document(body=body, origin=Origin(file=file))
