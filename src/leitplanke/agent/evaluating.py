"""Evaluating in a child process: the agent's evaluations run in an evaluator forked from it, replaced
after ``per_child`` evaluations (an object's, or one result of a set-level rule), when it dies and when
the policies change.

Why a child: the CEL runtime keeps the arguments of every call of a function written in Python (a leak
in cel-expr-python 0.1.3, see tests/engine/test_cel.py), so a process that evaluates for weeks grows;
the webhook's workers are recycled for the same reason. The child is forked once the policies are
compiled and shares them copy-on-write; batches of objects go to it over a pipe and come back as
``inventories.Verdicts``. All state (inventory, versions, reports) stays in the agent. An evaluation
that kills the child is retried once in a new one, object by object; an object that kills it again
gets an error result naming it. ``per_child=0`` evaluates in the agent's own process. Called by
``agent.processing`` from its one thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import connection as connections, get_context
from typing import Any

from leitplanke.agent import assessing, inventories, metrics
from leitplanke.core.documents import Document
from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.sources import cluster

_log = logging.getLogger(__name__)

PER_CHILD = 20_000  # evaluations before the evaluator is replaced: its leak stays a few MiB
BATCH = 256  # objects per message: the pipe's cost is a few percent of the evaluations'
REPLY_SECONDS = 600.0  # a child silent this long on one batch is taken for hung and replaced
DIED = "evaluator-died"
AGENT_POLICY = "leitplanke-agent"
PR_SET_PDEATHSIG = 1

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
        """New policies: the next evaluation forks a child that has them."""
        self.policies = policies
        self._retire("policies")

    def close(self) -> None:
        self._retire("")

    def _ask(self, request: tuple[Any, ...], evaluations: Callable[[Any], int]) -> Any:
        """The child's reply to ``request``; ``evaluations(reply)`` counts toward its replacement."""
        child = self.child or self._fork()
        try:
            child.channel.send(request)
            if not child.channel.poll(self.reply_seconds):
                _signal(child.pid, signal.SIGKILL)
                raise EOFError(f"no answer in {self.reply_seconds:g} s")
            reply = child.channel.recv()
        except (EOFError, OSError) as exc:
            self.child = None
            child.channel.close()
            self.figures.evaluator_restarts.labels("died").inc()
            raise Died(_reaped(child, reason=str(exc))) from exc
        child.evaluations += evaluations(reply)
        if child.evaluations >= self.per_child:
            self._retire("recycled")
        return reply

    def _fork(self) -> Child:
        ours, theirs = get_context("fork").Pipe()
        parent = os.getpid()
        # the compiled policies (and all else) move to the collector's permanent generation for the fork:
        # the child's collections then never write to their pages, which stay shared with the agent
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            raise
        if pid == 0:
            code = 1
            try:
                ours.close()
                code = _serve(theirs, self, parent=parent)
            except BaseException:  # the edge of a process: say why, never unwind into the agent's code
                traceback.print_exc()
            finally:
                os._exit(code)
        gc.unfreeze()  # the agent's own collections go on as before
        theirs.close()
        self.child = Child(pid, ours)
        _log.info("evaluator %d started", pid)
        return self.child

    def _retire(self, reason: str) -> None:
        """The child asked to end (its pipe closed) and waited for, before another is forked: a later
        child must not inherit this one's pipe (it would then never see it close)."""
        child, self.child = self.child, None
        if child is None:
            return
        child.channel.close()
        _reaped(child, reason="", wait=10.0)
        if reason:
            self.figures.evaluator_restarts.labels(reason).inc()


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


def _serve(channel: connections.Connection, evaluator: Evaluator, *, parent: int) -> int:
    """The child: answers each request until its pipe closes (or the agent's thread that forked it ends)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the agent, which then closes the pipe
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the agent ended before prctl took effect
        return 0
    policies, name = evaluator.policies, evaluator.cluster_name
    while True:
        try:
            request = channel.recv()
        except (EOFError, OSError):
            return 0
        if request[0] == "objects":
            reply: Any = evaluate_objects(policies, request[1], request[2], cluster_name=name)
        else:
            reply = evaluate_namespace(policies, *request[1:], cluster_name=name)
        channel.send(reply)


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


def _reaped(child: Child, *, reason: str, wait: float = 5.0) -> str:
    """How ``child`` ended, once it has (SIGKILL after ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: how it ended is not known
            return reason or "ended"
        if pid:
            break
        if time.monotonic() >= deadline:
            _signal(child.pid, signal.SIGKILL)
            _, status = os.waitpid(child.pid, 0)
            break
        time.sleep(0.01)
    if os.WIFSIGNALED(status):
        ended = f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        ended = f"exit code {os.waitstatus_to_exitcode(status)}"
    return f"{ended}: {reason}" if reason else ended


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
