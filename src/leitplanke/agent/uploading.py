"""Uploading the agent's results to the governance service, one (app, environment) at a time.

Each upload is the scope's complete state as this cluster sees it (a scan of source ``cluster:<name>``:
what it no longer reports is fixed, findings of CI scans are not; its drift goes as ``cluster:<name>:drift``),
in the v2 format. A scope is uploaded only when what it says changed: the digest of every scope's last
accepted upload is kept in a state file, so an agent that restarts resumes where it stopped, sending
again only what the service has not got, never the same scan twice. A scope whose objects are all gone
is uploaded empty once (its findings fixed).
Called by ``agent.processing``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from leitplanke.agent import inventories, metrics
from leitplanke.core.problems import ServiceError
from leitplanke.core.results import Resource, Result, Verdict
from leitplanke.governance import uploading, uploadrendering
from leitplanke.reports import summaries

_log = logging.getLogger(__name__)
STATE_FILE = "uploads.json"
UPLOAD_TIMEOUT = 60.0  # seconds; an upload that hangs is sent again at the next flush
_DRIFT_KEY = "drift:"  # of a scope's drift upload in ``Uploader.uploaded`` (app names have no colon)
_NOT_IN_SOURCE = re.compile(r"[^A-Za-z0-9._-]+")


def source_of(cluster_name: str, *, drift: bool = False) -> str:
    """The uploads' source: ``cluster:<name>`` (``cluster:<name>:drift`` for drift), the name spelt as a
    source allows (``uploadformats.SOURCE``)."""
    name = _NOT_IN_SOURCE.sub("-", cluster_name).lstrip("._-") or "unnamed"
    return f"cluster:{name}:drift" if drift else f"cluster:{name}"


def render_lines(
    results: Sequence[Result],
    *,
    scope: inventories.Scope,
    cluster_name: str,
    now: datetime,
    source: str | None = None,
) -> tuple[list[bytes], str]:
    """The v2 upload of ``results`` (in report order) and the digest of its content (the header's
    time left out)."""
    body: list[bytes] = []
    passes: Counter[Resource] = Counter()
    verdicts: Counter[str] = Counter()
    for result in results:
        verdicts[result.verdict.value] += 1
        if result.verdict is Verdict.PASS:
            passes[result.resource] += 1
        else:
            body.append(uploadrendering.render_result(result))
    body.extend(
        uploadrendering.render_passes(resource, count)
        for resource, count in sorted(
            passes.items(), key=lambda item: (item[0].namespace, item[0].kind, item[0].name)
        )
    )
    digest = hashlib.sha256(b"".join(body)).hexdigest()
    app, env = scope
    summary = {
        "cluster": cluster_name,
        "source": "leitplanke agent",
        "resources": len({r.resource for r in results}),
        "checks": len(results),
        "verdicts": dict(sorted(verdicts.items())),
    }
    header = uploadrendering.render_header(
        app=app,
        env=env,
        generated_at=summaries.rfc3339(now),
        summary=summary,
        source=source or source_of(cluster_name),
    )
    return [header, *body], digest


@dataclass(slots=True)
class Uploader:
    url: str
    token: str
    cluster_name: str
    figures: metrics.Metrics
    state_dir: Path | None = None
    uploaded: dict[str, str] = field(default_factory=dict)  # "app/env" → digest of its last accepted upload

    def __post_init__(self) -> None:
        path = self._state_path()
        if path is not None and path.is_file():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                self.uploaded = {str(k): str(v) for k, v in stored.get("uploaded", {}).items()}
            except (OSError, ValueError, AttributeError) as exc:
                _log.warning(
                    "the upload state %s could not be read (everything is sent again): %s", path, exc
                )

    def known_scopes(self, *, drift: bool = False) -> Iterator[inventories.Scope]:
        """The scopes uploaded before (this run or a previous one), of the policies' or of drift."""
        for key in sorted(self.uploaded):
            is_drift, scoped = key.startswith(_DRIFT_KEY), key.removeprefix(_DRIFT_KEY)
            if is_drift == drift:
                app, _, env = scoped.partition("/")
                yield app, env

    def upload(
        self, scope: inventories.Scope, results: Sequence[Result], *, now: datetime, drift: bool = False
    ) -> bool:
        """Send ``scope``'s results (its drift results, as a scan of the cluster's drift source) unless
        the service has them already; False when it could not."""
        ordered = sorted(results, key=Result.sort_key)
        source = source_of(self.cluster_name, drift=drift)
        lines, digest = render_lines(
            ordered, scope=scope, cluster_name=self.cluster_name, now=now, source=source
        )
        key = f"{_DRIFT_KEY if drift else ''}{scope[0]}/{scope[1]}"
        if self.uploaded.get(key) == digest:
            return True
        try:
            answer = uploading.post_upload(
                lines, url=self.url, app=scope[0], env=scope[1], token=self.token, timeout=UPLOAD_TIMEOUT
            )
        except ServiceError as exc:
            self.figures.uploads.labels("failed").inc()
            _log.warning("the results of %s were not uploaded: %s", key, exc)
            return False
        self.figures.uploads.labels("accepted").inc()
        _log.info("uploaded %s as scan %s: %s", key, answer.get("scan"), answer.get("transitions"))
        self.uploaded[key] = digest
        self._save()
        return True

    def catalog_apps(self) -> frozenset[str]:
        """The names of the service's applications (``GET /api/v1/apps``); none when it cannot say."""
        request = urllib.request.Request(
            f"{self.url.rstrip('/')}/api/v1/apps", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT) as response:
                apps = json.loads(response.read())
            return frozenset(str(app["name"]) for app in apps if isinstance(app, dict) and "name" in app)
        except (OSError, ValueError, TypeError) as exc:  # urllib's errors are OSErrors
            _log.warning("the catalog's applications could not be read (labels only): %s", exc)
            return frozenset()

    def _state_path(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / STATE_FILE

    def _save(self) -> None:
        path = self._state_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"uploaded": self.uploaded}, sort_keys=True), encoding="utf-8")
        os.replace(temporary, path)  # atomic: a crash leaves the old state or the new one
