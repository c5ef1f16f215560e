"""Running the agent: discovery, a watching thread per type, the processing thread, policy reloads.

``Agent(options).start()`` connects (a kubeconfig, or in-cluster), compiles the policies, forks the
evaluators' zygote (``agent.forking``: before any object is held), adopts the reports a previous run
wrote, finds the served types and starts the threads; ``stop()`` ends them.
Changes reach the processing thread through one bounded queue (its depth is a metric; a watch waits
while it is full, so the objects waiting to be evaluated are at most ``QUEUE_LIMIT``); the processing thread
flushes (set-level rules, reports, uploads) when the queue runs dry or every ``flush_seconds``, polls
the policy files and rediscovers types now and then. Called by ``leitplanke agent`` and the tests.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from leitplanke.agent import (
    assessing,
    discovering,
    drifting,
    evaluating,
    metrics,
    processing,
    reporting,
    uploading,
    watching,
)
from leitplanke.sources import cluster

_log = logging.getLogger(__name__)
# changes waiting for the processing thread: four of the evaluator's batches. A bound on what the agent
# holds besides its inventory: under a stream of changes faster than evaluation the queue held
# thousands of objects, and the agent's memory with them
QUEUE_LIMIT = 4 * evaluating.BATCH


@dataclass(frozen=True, slots=True)
class Options:
    cluster_name: str
    kubeconfig: str | None = None  # None: in-cluster
    context: str | None = None
    service_url: str = ""  # "" uploads nothing
    token: str = ""
    policy_paths: tuple[str, ...] = ()
    packs: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = discovering.DEFAULT_EXCLUSIONS
    scoping: processing.Scoping = field(default_factory=processing.Scoping)
    state_dir: Path | None = None
    openreports: bool = False
    max_results: int = reporting.MAX_RESULTS
    flush_seconds: float = 2.0
    upload_seconds: float = 30.0
    report_seconds: float = 10.0
    policy_poll_seconds: float = 5.0
    rediscover_seconds: float = 300.0
    page: int = watching.PAGE
    watch_timeout_seconds: int = 300
    drift: drifting.Config | None = None  # None: no drift detection
    drift_seconds: float = 10.0
    # evaluations before the evaluator process is replaced (it leaks a little with each); 0: in-process
    evaluations_per_worker: int = evaluating.PER_CHILD


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Agent:
    options: Options
    clock: Callable[[], datetime] = _utc_now
    connection: cluster.Connection | None = None
    figures: metrics.Metrics = field(default_factory=metrics.build_metrics)
    changes: queue.Queue[watching.Change] = field(default_factory=lambda: queue.Queue(maxsize=QUEUE_LIMIT))
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    watched: set[discovering.ServedType] = field(default_factory=set)
    processor: processing.Processor | None = None
    flushed: threading.Condition = field(default_factory=threading.Condition)
    refused_stamp: tuple[tuple[str, float], ...] = ()  # policy files that did not load, as they were

    def start(self) -> None:
        options = self.options
        connection = self.connection = self.connection or cluster.connect(
            kubeconfig=options.kubeconfig, context=options.context
        )
        policies = assessing.load_policies(paths=options.policy_paths, packs=options.packs, now=self.clock())
        evaluator = evaluating.Evaluator(
            policies=policies,
            cluster_name=options.cluster_name,
            figures=self.figures,
            per_child=options.evaluations_per_worker,
        )
        # the evaluators' zygote is forked now, before the agent holds any object
        evaluator.start()
        try:
            types = self._prepare(connection, evaluator)
        except BaseException:
            evaluator.close()
            raise
        self._watch(types)
        self._spawn(self._process, "leitplanke-agent-processing")

    def _prepare(
        self, connection: cluster.Connection, evaluator: evaluating.Evaluator
    ) -> list[discovering.ServedType]:
        """The report writer (with the reports adopted), the uploader and the processor; the served types."""
        options = self.options
        writer = reporting.ReportWriter(
            connection=connection,
            cluster_name=options.cluster_name,
            figures=self.figures,
            openreports=options.openreports,
            max_results=options.max_results,
        )
        writer.adopt()
        uploader = None
        if options.service_url:
            uploader = uploading.Uploader(
                url=options.service_url,
                token=options.token,
                cluster_name=options.cluster_name,
                figures=self.figures,
                state_dir=options.state_dir,
            )
        scoping = options.scoping
        if uploader is not None:
            scoping = dataclasses.replace(scoping, catalog_apps=uploader.catalog_apps())
        types = discovering.discover(connection, exclusions=options.exclusions)
        self.processor = processing.Processor(
            evaluator=evaluator,
            cluster_name=options.cluster_name,
            figures=self.figures,
            writer=writer,
            uploader=uploader,
            clock=self.clock,
            expected=set(types),
            scoping=scoping,
            upload_seconds=options.upload_seconds,
            report_seconds=options.report_seconds,
            drifter=None if options.drift is None else drifting.Drifter(options.drift, options.cluster_name),
            drift_seconds=options.drift_seconds,
        )
        self._know_namespaces(connection)
        return types

    def _know_namespaces(self, connection: cluster.Connection) -> None:
        """The Namespaces before any other object: each object is evaluated with its Namespace the first
        time (it is their ``namespaceObject``), not again once the Namespaces' list comes in."""
        assert self.processor is not None
        try:
            listed = connection.get("/api/v1/namespaces").get("items") or []
        except cluster.ClusterError as exc:  # the namespaces' watch lists them again and goes on
            self.figures.api_errors.labels(str(exc.status)).inc()
            return
        for namespace in listed:
            name = str((namespace.get("metadata") or {}).get("name") or "")
            if name:
                self.processor.inventory.namespaces[name] = namespace

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def wait_for_flush(self, *, after: int = 0, timeout: float = 60.0) -> bool:
        """Wait until a complete flush numbered past ``after`` ended with nothing left to write."""
        deadline = time.monotonic() + timeout
        with self.flushed:
            while not self._settled(after):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.flushed.wait(left)
        return True

    def _settled(self, after: int) -> bool:
        processor = self.processor
        return (
            processor is not None
            and processor.completed > after
            and not processor.pending
            and self.changes.empty()
        )

    def _watch(self, types: Sequence[discovering.ServedType]) -> None:
        assert self.connection is not None
        for served in types:
            if served in self.watched:
                continue
            self.watched.add(served)
            watch = watching.Watch(
                connection=self.connection,
                served=served,
                emit=self._emit,
                stop=self.stop_event,
                figures=self.figures,
                page=self.options.page,
                timeout_seconds=self.options.watch_timeout_seconds,
            )
            self._spawn(functools.partial(watching.watch_type, watch), f"leitplanke-watch-{served.qualified}")

    def _emit(self, change: watching.Change) -> None:
        """Hand a change to the processing thread. While the queue is full the watch waits: the objects
        not yet read stay with the API server (which ends a watch that falls too far behind; the next
        one continues from the last resourceVersion, or lists again on 410), not in this process."""
        while not self.stop_event.is_set():
            try:
                self.changes.put(change, timeout=0.5)
                return
            except queue.Full:
                continue

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _process(self) -> None:
        processor = self.processor
        assert processor is not None
        options = self.options
        last_flush = last_poll = last_discovery = time.monotonic()
        while not self.stop_event.is_set():
            try:
                self._drain(processor, deadline=last_flush + options.flush_seconds)
                self.figures.queue_depth.set(self.changes.qsize())
                now = time.monotonic()
                if self.changes.empty() or now - last_flush >= options.flush_seconds:
                    processor.flush()
                    last_flush = now
                    with self.flushed:
                        self.flushed.notify_all()
                if now - last_poll >= options.policy_poll_seconds:
                    last_poll = now
                    self._reload_if_changed(processor)
                if now - last_discovery >= options.rediscover_seconds:
                    last_discovery = now
                    self._rediscover(processor)
            except Exception:  # the thread's edge: one bad object or call must not end the agent
                _log.exception("processing failed; going on")
                self.stop_event.wait(1.0)
        processor.evaluator.close()

    def _drain(self, processor: processing.Processor, *, deadline: float) -> None:
        """Changes until the queue is empty or ``deadline`` passed (the first one waited for briefly)."""
        try:
            change = self.changes.get(timeout=0.2)
        except queue.Empty:
            return
        while True:
            processor.apply(change)
            if time.monotonic() >= deadline:
                return
            try:
                change = self.changes.get_nowait()
            except queue.Empty:
                return

    def _reload_if_changed(self, processor: processing.Processor) -> None:
        stamp = assessing.policy_stamp(self.options.policy_paths)
        if stamp == processor.policies.stamp:
            return
        _log.info("the policies changed: every object is evaluated again")
        processor.reload(
            assessing.load_policies(
                paths=self.options.policy_paths, packs=self.options.packs, now=self.clock()
            )
        )

    def _rediscover(self, processor: processing.Processor) -> None:
        assert self.connection is not None
        try:
            types = discovering.discover(self.connection, exclusions=self.options.exclusions)
        except cluster.ClusterError as exc:
            self.figures.api_errors.labels(str(exc.status)).inc()
            return
        fresh = [t for t in types if t not in self.watched]
        processor.expected.update(fresh)
        self._watch(fresh)
