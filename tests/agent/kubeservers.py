"""A small Kubernetes API server for the agent's tests: the wire format, exactly, over HTTP on loopback.

No real API server runs on these machines. This one speaks what the agent uses: discovery (``/api``,
``/api/v1``, ``/apis``, ``/apis/GROUP/VERSION``, custom resources included), lists with ``limit`` /
``continue`` and the list's ``resourceVersion``, watches (chunked JSON lines: ADDED, MODIFIED, DELETED,
BOOKMARK with ``allowWatchBookmarks``; an ERROR event with a 410 Status for a resourceVersion older than
the server keeps), server-side apply (PATCH ``application/apply-patch+yaml`` with ``fieldManager`` and
``force``; 409 on another manager's object without force), DELETE, and injectable 429 (Retry-After) and
500 answers. Objects of a group are served in every version of it, their ``apiVersion`` rewritten (a
CRD's ``None`` conversion). Continued list pages are read from the current objects, not from a snapshot
at the list's resourceVersion (the watch that follows delivers what changed in between).
"""

from __future__ import annotations

import base64
import bisect
import http.server
import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubestates import (  # noqa: F401  # re-exported: the tests' and the benchmark's one import
    BUILT_IN,
    CLUSTER_SCOPED,
    TOKEN,
    Fault,
    State,
    Type,
    plural,
    real_documents,
    seed,
    seed_documents,
    version_priority,
)


class KubeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: State) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state
        self.stopping = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(
            sys.exc_info()[1], ConnectionError
        ):  # a client gone (a watch the agent ended) is normal
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def kubeconfig(self, folder: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "agent", "user": {"token": TOKEN}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "agent"}}],
            "current-context": "test",
        }
        path = folder / "kubeconfig"
        path.write_text(json.dumps(config), encoding="utf-8")
        return path


@contextmanager
def running(state: State) -> Iterator[KubeServer]:
    server = KubeServer(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping = True
        with state.changed:
            state.changed.notify_all()
        server.shutdown()
        server.server_close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KubeServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with state.changed:
            state.requests.append((method, url.path, query))
            fault = next(
                (f for f in state.faults if f.method == method and url.path.startswith(f.path)), None
            )
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    state.faults.remove(fault)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._status(401, "Unauthorized", "Unauthorized")
        if fault is not None:
            extra = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
            return self._status(
                fault.status,
                "TooManyRequests" if fault.status == 429 else "InternalError",
                "injected",
                headers=extra,
            )
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        if method == "GET" and parts == ["api"]:
            return self._json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if method == "GET" and parts == ["apis"]:
            return self._json(200, self._groups())
        route = self._route(parts)
        if route is None:
            return self._status(
                404, "NotFound", f"the server could not find the requested resource ({url.path})"
            )
        group, version, resource, namespace, name = route
        if resource is None:
            return self._json(200, self._resources(group, version))
        kind_type = state.types.get((group, resource))
        if kind_type is None or version not in state.versions.get(group, []):
            return self._status(
                404, "NotFound", f"the server could not find the requested resource ({url.path})"
            )
        api_version = f"{group}/{version}" if group else version
        if method == "GET" and name is None and query.get("watch") in ("1", "true"):
            return self._watch(kind_type, api_version, namespace, query)
        if method == "GET" and name is None:
            return self._list(kind_type, api_version, namespace, query)
        if method == "PATCH" and name is not None:
            return self._apply(kind_type, api_version, namespace, name, query, body)
        if method == "DELETE" and name is not None:
            return self._delete(kind_type, namespace, name)
        if method == "GET" and name is not None:
            obj = state.objects.get((group, resource, namespace, name))
            if obj is None:
                return self._status(404, "NotFound", f'{resource} "{name}" not found')
            return self._json(200, {**obj, "apiVersion": api_version})
        return self._status(405, "MethodNotAllowed", "the server does not allow this method")

    def _route(self, parts: list[str]) -> tuple[str, str, str | None, str, str | None] | None:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        if group not in self.server.state.versions:
            return None
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 2:
            return None
        return group, version, rest[0] if rest else None, namespace, rest[1] if len(rest) > 1 else None

    def _groups(self) -> dict[str, Any]:
        groups = []
        for group, versions in sorted(self.server.state.versions.items()):
            if not group:
                continue
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resources(self, group: str, version: str) -> dict[str, Any]:
        resources = []
        for (type_group, _), kind_type in sorted(self.server.state.types.items()):
            if type_group != group:
                continue
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            resources.append(
                {
                    "name": kind_type.resource,
                    "singularName": kind_type.kind.lower(),
                    "namespaced": kind_type.namespaced,
                    "kind": kind_type.kind,
                    "verbs": verbs,
                }
            )
            resources.append(
                {
                    "name": f"{kind_type.resource}/status",
                    "singularName": "",
                    "namespaced": kind_type.namespaced,
                    "kind": kind_type.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        group_version = f"{group}/{version}" if group else version
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }

    def _matching(self, kind_type: Type, namespace: str) -> list[dict[str, Any]]:
        return [
            obj
            for (group, resource, ns, _), obj in sorted(self.server.state.objects.items())
            if (group, resource) == (kind_type.group, kind_type.resource)
            and (not namespace or ns == namespace)
        ]

    def _list(self, kind_type: Type, api_version: str, namespace: str, query: dict[str, str]) -> None:
        state = self.server.state
        limit = int(query.get("limit") or 0)
        with state.changed:
            if "continue" in query:
                token = json.loads(base64.urlsafe_b64decode(query["continue"]))
                revision, start = token["rv"], tuple(token["start"])
                if revision <= state.compacted:
                    return self._status(410, "Expired", "The provided continue parameter is too old")
            else:
                revision, start = state.revision, ()
            items = [o for o in self._matching(kind_type, namespace) if _key(o) > start]
            more = limit and len(items) > limit
            page = items[:limit] if limit else items
            metadata: dict[str, Any] = {"resourceVersion": str(revision)}
            if more:
                cursor = {"rv": revision, "start": list(_key(page[-1]))}
                metadata["continue"] = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
                metadata["remainingItemCount"] = len(items) - limit
            body = {
                "kind": f"{kind_type.kind}List",
                "apiVersion": api_version,
                "metadata": metadata,
                "items": [{**o, "apiVersion": api_version} for o in page],
            }
            data = json.dumps(body).encode()
        self._send(200, data)

    def _watch(self, kind_type: Type, api_version: str, namespace: str, query: dict[str, str]) -> None:
        state = self.server.state
        since = int(query.get("resourceVersion") or 0)
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            with state.changed:
                if since and since < state.compacted:
                    gone = {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": "Expired",
                        "code": 410,
                        "message": f"too old resource version: {since} ({state.compacted})",
                    }
                    self._chunk({"type": "ERROR", "object": gone})
                    return self._end()
            next_bookmark = time.monotonic() + state.bookmark_seconds
            generation = state.generation
            while not self.server.stopping and time.monotonic() < deadline and state.generation == generation:
                with state.changed:
                    log = state.events.get((kind_type.group, kind_type.resource), [])
                    pending = [
                        (rv, event, obj)
                        for rv, event, obj in log[bisect.bisect_right(log, since, key=lambda e: e[0]) :]
                        if not namespace or obj["metadata"].get("namespace") == namespace
                    ]
                    if not pending and time.monotonic() < next_bookmark:
                        state.changed.wait(max(0.0, min(next_bookmark, deadline) - time.monotonic()))
                        continue
                    current = state.revision
                for rv, event, obj in pending:
                    self._chunk({"type": event, "object": {**obj, "apiVersion": api_version}})
                    since = rv
                if bookmarks and time.monotonic() >= next_bookmark:
                    mark = {
                        "kind": kind_type.kind,
                        "apiVersion": api_version,
                        "metadata": {"resourceVersion": str(max(since, current))},
                    }
                    self._chunk({"type": "BOOKMARK", "object": mark})
                    since = max(since, current)
                if time.monotonic() >= next_bookmark:
                    next_bookmark = time.monotonic() + state.bookmark_seconds
            self._end()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _apply(
        self, kind_type: Type, api_version: str, namespace: str, name: str, query: dict[str, str], raw: bytes
    ) -> None:
        state = self.server.state
        if self.headers.get("Content-Type") != "application/apply-patch+yaml":
            return self._status(415, "UnsupportedMediaType", "only server-side apply is served here")
        manager = query.get("fieldManager", "")
        if not manager:
            return self._status(422, "Invalid", "fieldManager is required for apply patch")
        if len(raw) > state.max_object_bytes:
            return self._status(413, "RequestEntityTooLarge", "etcdserver: request is too large")
        try:  # JSON is YAML, and far quicker to read as JSON
            applied = json.loads(raw)
        except ValueError:
            applied = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        meta = applied.get("metadata", {})
        if (
            applied.get("kind") != kind_type.kind
            or meta.get("name") != name
            or (kind_type.namespaced and meta.get("namespace", namespace) != namespace)
        ):
            return self._status(400, "BadRequest", "the body names another object than the path")
        key = (kind_type.group, kind_type.resource, namespace, name)
        with state.changed:
            owner = state.managers.get(key)
            if owner is not None and owner != manager and query.get("force") != "true":
                return self._status(409, "Conflict", f'Apply failed with 1 conflict: conflict with "{owner}"')
            obj = state.put({**applied, "apiVersion": api_version})
            state.managers[key] = manager
            obj["metadata"]["managedFields"] = [
                {"manager": manager, "operation": "Apply", "apiVersion": api_version}
            ]
            data = json.dumps(obj).encode()
        self._send(200, data)

    def _delete(self, kind_type: Type, namespace: str, name: str) -> None:
        state = self.server.state
        key = (kind_type.group, kind_type.resource, namespace, name)
        with state.changed:
            obj = state.objects.get(key)
            if obj is None:
                return self._status(404, "NotFound", f'{kind_type.resource} "{name}" not found')
            state.remove(obj["apiVersion"], obj["kind"], namespace, name)
        self._json(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Success",
                "details": {"name": name, "kind": kind_type.resource},
            },
        )

    def _status(
        self, code: int, reason: str, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        self._send(code, json.dumps(body).encode(), headers=headers)

    def _json(self, code: int, body: Mapping[str, Any]) -> None:
        self._send(code, json.dumps(body).encode())

    def _send(self, code: int, data: bytes, *, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, event: Mapping[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
