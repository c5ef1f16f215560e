"""The admission webhook as a small raw ASGI app: ``POST /validate`` and ``POST /mutate`` answer
an AdmissionReview; ``/healthz``, ``/readyz`` and ``/metrics`` beside it.

Built by ``create_webhook_app`` with a compiled ``PolicySet`` (``leitplanke webhook`` runs it on
Uvicorn over TLS); per request: parse (``sources.admission``), evaluate (``engine``, with the file
and the service's waivers, within the environment's budget), decide (``admissionmodes``) and queue
the decision to record (``admissionrecords``, ``admissionqueues``) before answering, or fix
(``mutating``). Bad input is a 400 or a well-formed denial, never a 500.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from starlette.types import Receive, Scope, Send

from leitplanke import engine
from leitplanke.core.problems import Problem
from leitplanke.core.results import Result, ScanReport, Verdict
from leitplanke.core.waivers import Waiver
from leitplanke.service import admissionmodes, admissionrecords, mutating
from leitplanke.service.admissionqueues import DecisionQueue
from leitplanke.service.admissionwaivers import WaiverBook
from leitplanke.sources import admission

# the API server sends at most 3 MiB of object (etcd's request limit) plus the review around it
MAX_BODY = 3 * 1024 * 1024 + 512 * 1024
JSON = b"application/json"
METRICS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


@dataclass
class WebhookMetrics:
    """The webhook's metrics; with ``directory`` (``PROMETHEUS_MULTIPROC_DIR``, set by ``cli/webhook``
    before prometheus_client's import) every worker writes its values there and ``render`` adds them up,
    those of the retired workers included."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    directory: Path | None = None

    def __post_init__(self) -> None:
        self.requests = Counter(
            "leitplanke_admission_requests",
            "HTTP requests to the webhook",
            ["route", "status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "leitplanke_admission_decisions",
            "Admission decisions",
            ["mode", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leitplanke_admission_seconds",
            "Time to answer an admission review",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.policy_errors = Counter(
            "leitplanke_admission_policy_errors", "Results with verdict error", registry=self.registry
        )
        self.invalid = Counter(
            "leitplanke_admission_invalid_reviews",
            "Reviews that could not be read",
            ["code"],
            registry=self.registry,
        )
        self.over_budget = Counter(
            "leitplanke_admission_over_budget",
            "Evaluations that took longer than their budget",
            registry=self.registry,
        )
        self.queued = Counter(
            "leitplanke_admission_queued_decisions",
            "Decisions appended to the local queue",
            registry=self.registry,
        )
        self.shipped = Counter(
            "leitplanke_admission_shipped_decisions", "Decisions the service recorded", registry=self.registry
        )
        self.ship_failures = Counter(
            "leitplanke_admission_ship_failures", "Batches the service did not take", registry=self.registry
        )
        self.service_waivers = Gauge(
            "leitplanke_admission_service_waivers",
            "Service waivers in force, as last synced",
            registry=self.registry,
            multiprocess_mode="livemostrecent",  # the last sync of a live worker
        )

    def render(self) -> bytes:
        """The text exposition: this process's registry, or every worker's values in ``directory``."""
        if self.directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]  # untyped upstream
        return generate_latest(registry)


@dataclass(frozen=True)
class Webhook:
    policy_set: engine.PolicySet
    config: admissionmodes.AdmissionConfig
    metrics: WebhookMetrics
    waivers: Sequence[Waiver] = ()
    max_body: int = MAX_BODY
    pss_version: str = "latest"
    queue: DecisionQueue | None = None  # decisions to record, shipped by ``admissionshipping``
    book: WaiverBook = field(default_factory=WaiverBook)  # the service's waivers (``admissionwaivers``)
    # run at the lifespan's shutdown, after the last request and before Uvicorn re-raises SIGTERM
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, on_shutdown=self.on_shutdown)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path in ("/validate", "/mutate"):
            if method != "POST":
                status, body, kind = 405, _problem("method-not-allowed", "", "use POST"), JSON
            else:
                status, body, kind = await self._review(scope, receive, mutate=path == "/mutate")
        elif path in ("/healthz", "/readyz") and method == "GET":
            status, body, kind = 200, orjson.dumps({"status": "ok"}), JSON
        elif path == "/metrics" and method == "GET":
            status, body, kind = 200, self.metrics.render(), METRICS_TYPE
        else:
            status, body, kind = 404, _problem("not-found", "", f"no route {method} {path}"), JSON
        self.metrics.requests.labels(path if status != 404 else "other", str(status)).inc()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]})
        await send({"type": "http.response.body", "body": body})

    async def _review(self, scope: Scope, receive: Receive, *, mutate: bool) -> tuple[int, bytes, bytes]:
        started = time.perf_counter()
        body = await _read_body(scope, receive, limit=self.max_body)
        if body is None:
            self.metrics.invalid.labels("too-large").inc()
            return 413, _problem("too-large", "", f"the body exceeds {self.max_body} bytes"), JSON
        review = admission.parse_review(body)
        if isinstance(review, admission.ReviewError):
            self.metrics.invalid.labels(review.code).inc()
            if not review.uid:
                return 400, _problem(review.code, review.field, review.message), JSON
            message = f"leitplanke: invalid AdmissionReview: {review.field}: {review.message} [{review.code}]"
            return 200, _answer(review.uid, admissionmodes.Decision(False, "deny", message), code=400), JSON
        environment = self.config.environment_of(review)
        if mutate:
            decision, patch = self._mutate(review, environment=environment)
            mode = "mutate"
        else:
            mode, patch = self.config.mode_of(environment), []
            app = self.config.app_of(review)
            decision, results = self._decide(review, environment=environment, mode=mode, app=app)
            self._record(review, decision, results, mode=mode, app=app, env=environment)
        self.metrics.decisions.labels(mode, decision.outcome).inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        return 200, _answer(review.uid, decision, patch=patch), JSON

    def _mutate(
        self, review: admission.Review, *, environment: str
    ) -> tuple[admissionmodes.Decision, list[dict[str, Any]]]:
        """Allowed, with the patch of the fixes where the environment mutates; a DELETE, CONNECT,
        sub-resource or exempt request is allowed as it is."""
        if (
            not self.config.mutates(environment)
            or review.operation not in ("CREATE", "UPDATE")
            or review.sub_resource
            or self.config.exempts(review)
        ):
            return admissionmodes.Decision(True, "skip"), []

        app = self.config.app_of(review)

        def evaluate(body: Mapping[str, Any]) -> list[Result]:
            fixed = replace(review, document=replace(review.document, body=body))
            return self.evaluate(fixed, environment=environment, app=app)

        failure, started = self.config.failure_of(environment), time.perf_counter()
        try:
            mutation = mutating.mutate(
                review.document.body,
                evaluate=evaluate,
                unsafe=self.config.allows_unsafe_fixes(environment),
            )
        except Exception as exc:  # the edge: as in validation, one bad object never stops the webhook
            self.metrics.policy_errors.inc()
            text = f"leitplanke could not fix the object: {type(exc).__name__}: {exc}"
            return _failed(text, failure=failure), []
        over = self._over_budget(started, environment=environment)
        if over:  # every round of fixing counts: a patch made late is not returned
            return _failed(over, failure=failure), []
        return admissionmodes.Decision(True, "patch" if mutation.patch else "allow"), mutation.patch

    def _over_budget(self, started: float, *, environment: str) -> str:
        """Why the evaluation since ``started`` is over the environment's budget; "" within it."""
        elapsed, budget = time.perf_counter() - started, self.config.budget_of(environment)
        if elapsed <= budget:
            return ""
        self.metrics.over_budget.inc()
        return f"evaluation took {elapsed * 1000:.1f} ms, over the budget of {budget * 1000:g} ms"

    def _decide(
        self, review: admission.Review, *, environment: str, mode: str, app: str
    ) -> tuple[admissionmodes.Decision, list[Result]]:
        if self.config.exempts(review):
            return admissionmodes.Decision(True, "exempt"), []
        if review.sub_resource:
            # policies are written for whole objects; sub-resources (status, scale, …) pass
            return admissionmodes.Decision(True, "skip"), []
        failure = self.config.failure_of(environment)
        started = time.perf_counter()
        try:
            results = self.evaluate(review, environment=environment, app=app)
        except Exception as exc:  # the edge: one bad object never stops the webhook
            self.metrics.policy_errors.inc()
            text = f"leitplanke could not evaluate the object: {type(exc).__name__}: {exc}"
            return _failed(text, failure=failure), []
        over = self._over_budget(started, environment=environment)
        errors = sum(1 for r in results if r.verdict is Verdict.ERROR)
        if errors:
            self.metrics.policy_errors.inc(errors)
        if over:  # late is as good as failed: the environment's failure policy decides, never a pass
            return _failed(over, failure=failure), results
        return admissionmodes.decide(results, mode=mode, failure=failure), results

    def _record(
        self,
        review: admission.Review,
        decision: admissionmodes.Decision,
        results: Sequence[Result],
        *,
        mode: str,
        app: str,
        env: str,
    ) -> None:
        """Append the decision to the durable queue before the answer goes out (``queue`` set)."""
        if self.queue is None:
            return
        record = admissionrecords.build_record(
            review, decision, results, mode=mode, app=app, env=env, now=datetime.now(UTC)
        )
        if record is not None and self.queue.append(admissionrecords.record_uid(review.uid), record):
            self.metrics.queued.inc()

    def evaluate(self, review: admission.Review, *, environment: str = "", app: str = "") -> list[Result]:
        """The engine's results for the review's object, with the file waivers and the service's
        waivers of (app, environment) applied."""
        context = engine.Context(
            operation=review.operation,
            old_object=review.old_object,
            user_info=review.user_info,
            environment=environment,
            dry_run=review.dry_run,
            sub_resource=review.sub_resource,
            uid=review.uid,
            pss_version=self.pss_version,
        )
        results = engine.evaluate(self.policy_set, review.document, context=context)
        if review.namespace and not review.document.namespace:
            _place(results, namespace=review.namespace)
        now = datetime.now(UTC)
        waivers = [*self.waivers, *self.book.active(app=app, env=environment, now=now)]
        if waivers:
            report = ScanReport(results=results)
            engine.apply_waivers(report, waivers, now=now)
            results = report.results
        return results


def _place(results: list[Result], *, namespace: str) -> None:
    """An object created without ``metadata.namespace`` lives in the request's namespace: its results
    say so, for waivers match on it and findings are keyed by it."""
    for result in results:
        if not result.resource.namespace:
            result.resource = replace(result.resource, namespace=namespace)


def _failed(text: str, *, failure: str) -> admissionmodes.Decision:
    """Deny under the closed (``fail``) failure policy, else allow with the reason as a warning."""
    if failure == "closed":
        return admissionmodes.Decision(False, "deny", admissionmodes.render_message([text]))
    return admissionmodes.Decision(True, "warn", "", admissionmodes.render_warnings([text]))


def create_webhook_app(
    *,
    policy_set: engine.PolicySet,
    admission_section: Mapping[str, Any],
    config_file: str,
    waivers: Sequence[Waiver] = (),
    pss_version: str = "latest",
    queue_path: Path | None = None,
    queue_fsync: bool = False,
    metrics_directory: Path | None = None,
) -> tuple[Webhook, list[Problem]]:
    """The webhook for the config's ``admission:`` section, and what is wrong with that section
    (the caller refuses to start on any); with ``queue_path`` it records decisions through that queue;
    with ``metrics_directory`` its /metrics adds up the values of all the workers that write there."""
    config, problems = admissionmodes.parse_admission_config(admission_section, file=config_file)
    webhook = Webhook(
        policy_set=policy_set,
        config=config,
        metrics=WebhookMetrics(directory=metrics_directory),
        waivers=waivers,
        pss_version=pss_version,
        queue=DecisionQueue(queue_path, durable=queue_fsync) if queue_path is not None else None,
    )
    return webhook, problems


async def _read_body(scope: Scope, receive: Receive, *, limit: int) -> bytes | None:
    """The request body, or None as soon as it (or its declared length) passes ``limit``."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(
    receive: Receive, send: Send, *, on_shutdown: Sequence[Callable[[], Awaitable[None]]]
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for hook in on_shutdown:
                await hook()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _answer(
    uid: str, decision: admissionmodes.Decision, *, code: int = 403, patch: Sequence[Mapping[str, Any]] = ()
) -> bytes:
    response: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(list(patch))).decode("ascii")
    if not decision.allowed:
        response["status"] = {"code": code, "message": decision.message}
    if decision.warnings:
        response["warnings"] = list(decision.warnings)
    return orjson.dumps({"apiVersion": admission.API_VERSION, "kind": admission.KIND, "response": response})


def _problem(code: str, field_path: str, message: str) -> bytes:
    return orjson.dumps({"code": code, "field": field_path, "message": message})
