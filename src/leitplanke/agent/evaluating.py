"""Evaluating in a child process: the agent's evaluations run in an evaluator process, replaced after
``per_child`` evaluations (an object's, or one result of a set-level rule), when it dies and when the
policies change.

Why a child: the CEL runtime keeps the arguments of every call of a function written in Python (a leak
in cel-expr-python 0.1.3, see tests/engine/test_cel.py), so a process that evaluates for weeks grows;
the webhook's workers are recycled for the same reason. The children are forked by a zygote
(``agent.forking``) forked from the agent right after the policies are compiled, so they share the
compiled policies copy-on-write and none of the inventory; batches of objects go to a child over a
socket and come back as ``inventories.Verdicts``. All state (inventory, versions, reports) stays in
the agent. An evaluation that kills the child is retried once in a new one, object by object; an
object that kills it again gets an error result naming it. A zygote that dies is replaced (forked
from the agent then). ``per_child=0`` evaluates in the agent's own process. Called by
``agent.processing`` from its one thread.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import connection as connections
from typing import Any

from leitplanke.agent import assessing, forking, inventories, metrics
from leitplanke.core.documents import Document
from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.sources import cluster

_log = logging.getLogger(__name__)

PER_CHILD = 20_000  # evaluations before the evaluator is replaced: its leak stays a few MiB
BATCH = 256  # objects per message: the socket's cost is a few percent of the evaluations'
REPLY_SECONDS = 600.0  # a child silent this long on one batch is taken for hung and replaced
FORK_SECONDS = 30.0  # a zygote that forks no child in this time is taken for hung and replaced
DIED = "evaluator-died"
AGENT_POLICY = "leitplanke-agent"

Item = tuple[Mapping[str, Any], str]  # an object's body and its namespace's name ("" for none)


class Died(Exception):
    """The evaluator process ended (or hung) before it answered."""


@dataclass(slots=True)
class Child:
    pid: int
    channel: connections.Connection
    evaluations: int = 0


@dataclass(slots=True)
class Evaluator:
    policies: assessing.Policies
    cluster_name: str
    figures: metrics.Metrics
    per_child: int = PER_CHILD  # 0: evaluate in this process
    reply_seconds: float = REPLY_SECONDS
    child: Child | None = None
    zygote: forking.Zygote | None = None

    def start(self) -> None:
        """The zygote forked now, while the agent is small (else at the first evaluation)."""
        if self.per_child and self.zygote is None:
            self.zygote = self._start_zygote()

    def objects(self, items: Sequence[Item], *, namespaces: Mapping[str, Any]) -> list[inventories.Verdicts]:
        """Each object's verdicts, evaluated with its Namespace (from ``namespaces``) as namespaceObject."""
        around = {name: namespaces[name] for _, name in items if name in namespaces}
        if not self.per_child:
            return evaluate_objects(self.policies, items, around, cluster_name=self.cluster_name)
        try:
            verdicts: list[inventories.Verdicts] = self._ask(("objects", items, around), len)
            return verdicts
        except Died as first:
            _log.warning("the evaluator died (%s): %d objects evaluated again, one by one", first, len(items))
        # retried one at a time, so that an object that kills the child again is the one named
        found = []
        for body, name in items:
            single = [(body, name)]
            try:
                found.extend(self._ask(("objects", single, around), len))
            except Died as again:
                document = cluster.document_of(body, cluster=self.cluster_name)
                message = f"evaluating it ended the evaluator twice ({again})"
                found.append(inventories.Verdicts([_died(document, "evaluation", message)], (), None, ""))
        return found

    def namespace(
        self,
        bodies: Sequence[Mapping[str, Any]],
        *,
        namespace: str,
        namespace_object: Mapping[str, Any] | None,
        now: datetime,
    ) -> list[Result]:
        """The results of the set-level rules over ``bodies`` (one namespace's objects)."""
        request = ("namespace", bodies, namespace, namespace_object, now)
        if not self.per_child:
            return evaluate_namespace(self.policies, *request[1:], cluster_name=self.cluster_name)
        reason = ""
        for _ in (1, 2):
            try:
                # counted by result (one per object a set-level rule applies to), not by object:
                # most objects of a namespace are of kinds no set-level rule reads
                results: list[Result] = self._ask(request, len)
                return results
            except Died as exc:
                _log.warning("the evaluator died (%s) on the set-level rules of %r", exc, namespace)
                reason = str(exc)
        message = f"the set-level rules of namespace {namespace!r} ended the evaluator twice ({reason})"
        documents = [cluster.document_of(body, cluster=self.cluster_name) for body in bodies]
        return [_died(document, "set-level-rules", message) for document in documents]

    def replace(self, policies: assessing.Policies) -> None:
        """New policies: the zygote compiles them too (from the same files: it holds nothing of the
        agent's since), and the next evaluation forks a child that has them."""
        self.policies = policies
        self._retire("policies")
        zygote = self.zygote
        if zygote is None:
            return
        try:
            problem = zygote.prepare(
                (policies.paths, policies.packs, policies.now), timeout=self.reply_seconds
            )
        except (forking.ZygoteDied, TimeoutError) as exc:
            self._zygote_died(str(exc))
            return
        if problem:  # the files changed meanwhile: a zygote forked from the agent has its policies
            _log.warning("the evaluators' zygote could not compile the new policies (%s): replaced", problem)
            self.zygote = None
            zygote.close()

    def close(self) -> None:
        self._retire("")
        zygote, self.zygote = self.zygote, None
        if zygote is not None:
            zygote.close()

    def _ask(self, request: tuple[Any, ...], evaluations: Callable[[Any], int]) -> Any:
        """The child's reply to ``request``; ``evaluations(reply)`` counts toward its replacement."""
        child = self.child or self._fork()
        try:
            child.channel.send(request)
            if not child.channel.poll(self.reply_seconds):
                forking.kill(child.pid)
                raise EOFError(f"no answer in {self.reply_seconds:g} s")
            reply = child.channel.recv()
        except (EOFError, OSError) as exc:
            self.child = None
            child.channel.close()
            self.figures.evaluator_restarts.labels("died").inc()
            raise Died(self._ended(child, reason=str(exc))) from exc
        child.evaluations += evaluations(reply)
        if child.evaluations >= self.per_child:
            self._retire("recycled")
        return reply

    def _fork(self) -> Child:
        """A new child from the zygote; a zygote that died is replaced once."""
        for attempt in (1, 2):
            zygote = self.zygote = self.zygote or self._start_zygote()
            try:
                pid, channel = zygote.fork(timeout=FORK_SECONDS)
            except (forking.ZygoteDied, TimeoutError) as exc:
                self._zygote_died(str(exc))
                if attempt == 2:
                    raise
                continue
            self.child = Child(pid, channel)
            _log.info("evaluator %d started", pid)
            return self.child
        raise AssertionError("unreachable")

    def _start_zygote(self) -> forking.Zygote:
        serve = functools.partial(_serve, cluster_name=self.cluster_name)
        # a child's channel kept by a zygote would stay open after the agent closed it
        inherited = [self.child.channel] if self.child else []
        zygote = forking.start(state=self.policies, serve=serve, prepare=_prepare, inherited=inherited)
        _log.info("evaluators' zygote %d started", zygote.pid)
        return zygote

    def _zygote_died(self, reason: str) -> None:
        """The zygote reaped and counted; the next fork starts another (from the agent, as it is then)."""
        zygote, self.zygote = self.zygote, None
        if zygote is None:
            return
        ended = zygote.close(wait=1.0)
        _log.warning(
            "the evaluators' zygote %d ended (%s: %s): another one is started", zygote.pid, reason, ended
        )
        self.figures.evaluator_restarts.labels("zygote").inc()

    def _retire(self, reason: str) -> None:
        """The child asked to end (its channel closed) and waited for, before another is forked."""
        child, self.child = self.child, None
        if child is None:
            return
        child.channel.close()
        self._ended(child, reason="", wait=10.0)
        if reason:
            self.figures.evaluator_restarts.labels(reason).inc()

    def _ended(self, child: Child, *, reason: str, wait: float = 5.0) -> str:
        """How ``child`` ended, as its zygote reports it (SIGKILL after ``wait`` seconds)."""
        ended = "ended with its zygote"
        zygote = self.zygote
        if zygote is not None:
            try:
                status = zygote.wait_status(child.pid, timeout=wait)
                if status is None:
                    forking.kill(child.pid)
                    status = zygote.wait_status(child.pid, timeout=wait)
                if status is not None:
                    ended = forking.describe(status)
            except forking.ZygoteDied as exc:
                self._zygote_died(str(exc))
        return f"{ended}: {reason}" if reason else ended


def evaluate_objects(
    policies: assessing.Policies,
    items: Sequence[Item],
    namespaces: Mapping[str, Any],
    *,
    cluster_name: str,
) -> list[inventories.Verdicts]:
    """The verdicts of ``items``; each distinct pass is one tuple, pickled once in the child's reply."""
    shared: dict[inventories.Pass, inventories.Pass] = {}
    found = []
    for body, name in items:
        document = cluster.document_of(body, cluster=cluster_name)
        results = assessing.evaluate_object(policies, document, namespace_object=namespaces.get(name))
        found.append(inventories.condense(results, shared=shared))
    return found


def evaluate_namespace(
    policies: assessing.Policies,
    bodies: Sequence[Mapping[str, Any]],
    namespace: str,
    namespace_object: Mapping[str, Any] | None,
    now: datetime,
    *,
    cluster_name: str,
) -> list[Result]:
    documents = [cluster.document_of(body, cluster=cluster_name) for body in bodies]
    return assessing.evaluate_namespace(
        policies, documents, namespace=namespace, namespace_object=namespace_object, now=now
    )


def _serve(channel: connections.Connection, policies: assessing.Policies, *, cluster_name: str) -> int:
    """A child: answers each request until its channel closes."""
    while True:
        try:
            request = channel.recv()
        except (EOFError, OSError):
            return 0
        if request[0] == "objects":
            reply: Any = evaluate_objects(policies, request[1], request[2], cluster_name=cluster_name)
        else:
            reply = evaluate_namespace(policies, *request[1:], cluster_name=cluster_name)
        channel.send(reply)


def _prepare(payload: tuple[tuple[str, ...], tuple[str, ...], datetime]) -> assessing.Policies:
    """In the zygote: the new policies, compiled from the files the agent loaded them from."""
    paths, packs, now = payload
    return assessing.load_policies(paths=paths, packs=packs, now=now)


def _died(document: Document, rule: str, message: str) -> Result:
    """The error result of an object whose evaluation the evaluator did not survive."""
    resource = Resource(
        api_version=document.api_version,
        kind=document.kind,
        namespace=document.namespace,
        name=document.name,
        domain=document.domain,
    )
    return Result(
        AGENT_POLICY,
        rule,
        resource,
        Verdict.ERROR,
        Severity.HIGH,
        f"{resource.display}: {message}",
        Location(document.origin.file, 0, ""),
        code=DIED,
    )
