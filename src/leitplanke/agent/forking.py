"""Forking evaluator processes from a zygote: a small process forked from the agent right after the
policies are compiled, before the inventory grows, that forks each evaluator the agent asks for.

Why: a process forked from the agent shares its pages copy-on-write, and every page either of them
writes afterwards is copied. An evaluator forked from an agent that holds 50,000 objects kept the
agent's old pages alive as the agent rewrote them (some 200 MiB more for the process tree). The zygote
holds the imports and the compiled policies only, and so do its children. The agent asks over a Unix
socket (``SOCK_SEQPACKET``: one message a request); the zygote forks the child, hands the agent its
end of a socket pair (``socket.send_fds``), reaps its children and reports each one's wait status.
New policies are compiled by the zygote itself (``prepare``), so that it never holds what the agent
grew. Called by ``agent.evaluating`` from the agent's processing thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import connection as connections
from typing import Any

PR_SET_PDEATHSIG = 1
BUFFER = 1 << 16  # a message is a small pickled tuple; new policies travel as (paths, packs, now)

Serve = Callable[[connections.Connection, Any], int]  # a child's work: its channel and the state
Prepare = Callable[[Any], Any]  # new state from the agent's payload, in the zygote


class ZygoteDied(Exception):
    """The zygote ended (or stopped answering): the agent starts another."""


@dataclass(slots=True)
class Zygote:
    """The agent's side: the zygote's pid and socket, and the wait statuses it reported."""

    pid: int
    control: socket.socket
    ended: dict[int, int] = field(default_factory=dict)  # wait status by child pid, not yet asked for

    def fork(self, *, timeout: float) -> tuple[int, connections.Connection]:
        """A new child: its pid and the channel to it (OSError when the zygote could not fork)."""
        self._send(("fork",))
        deadline = time.monotonic() + timeout
        while True:
            message, fds = self._receive(deadline - time.monotonic())
            if message[0] == "forked" and len(fds) == 1:
                return int(message[1]), connections.Connection(fds[0])
            if message[0] == "refused":  # as a fork in the agent that fails
                raise OSError(message[1], f"the zygote could not fork: {message[2]}")
            for fd in fds:  # never expected: not leaked either
                os.close(fd)

    def prepare(self, payload: Any, *, timeout: float) -> str:
        """The zygote's state made again from ``payload`` (new policies): "" or why it could not be."""
        self._send(("prepare", payload))
        deadline = time.monotonic() + timeout
        while True:
            message, _ = self._receive(deadline - time.monotonic())
            if message[0] == "prepared":
                return str(message[1])

    def wait_status(self, pid: int, *, timeout: float) -> int | None:
        """How child ``pid`` ended (a wait status), or None if it did not within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while pid not in self.ended:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                self._receive(left)
            except TimeoutError:
                return None
        return self.ended.pop(pid)

    def close(self, *, wait: float = 10.0) -> str:
        """The zygote told to end (its socket closed) and reaped: how it ended."""
        with contextlib.suppress(OSError):
            self.control.close()
        return reaped(self.pid, wait=wait)

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self.control.send(pickle.dumps(message))
        except OSError as exc:
            raise ZygoteDied(f"the zygote's socket: {exc}") from exc

    def _receive(self, timeout: float) -> tuple[tuple[Any, ...], list[int]]:
        """The next message (TimeoutError after ``timeout`` seconds); wait statuses also go to ``ended``."""
        try:
            ready, _, _ = select.select([self.control], [], [], max(0.0, timeout))
            if not ready:
                raise TimeoutError("the zygote did not answer in time")
            data, fds, _, _ = socket.recv_fds(self.control, BUFFER, 1)
        except TimeoutError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: the socket was closed
            raise ZygoteDied(f"the zygote's socket: {exc}") from exc
        if not data:
            raise ZygoteDied("the zygote ended")
        message: tuple[Any, ...] = pickle.loads(data)
        if message[0] == "ended":
            self.ended[int(message[1])] = int(message[2])
        return message, fds


def start(*, state: Any, serve: Serve, prepare: Prepare, inherited: Sequence[Any] = ()) -> Zygote:
    """The zygote, forked now; ``inherited``: things with a ``close()`` it must not keep open (a
    channel to a running child would otherwise never be seen to close)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    # everything moves to the collector's permanent generation for the fork: the zygote's and its
    # children's collections then never write to these pages, which stay shared with the agent
    gc.freeze()
    try:
        pid = os.fork()
    except OSError:
        gc.unfreeze()
        ours.close()
        theirs.close()
        raise
    if pid == 0:
        code = 1
        try:
            ours.close()
            for thing in inherited:
                thing.close()
            code = _run(theirs, state, serve=serve, prepare=prepare, parent=parent)
        except BaseException:  # the edge of a process: say why, never unwind into the agent's code
            traceback.print_exc()
        finally:
            os._exit(code)
    gc.unfreeze()  # the agent's own collections go on as before
    theirs.close()
    return Zygote(pid, ours)


def reaped(pid: int, *, wait: float) -> str:
    """How our own child ``pid`` ended, once it has (SIGKILL after ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            found, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: how it ended is not known
            return "ended"
        if found:
            return describe(status)
        if time.monotonic() >= deadline:
            kill(pid)
            _, status = os.waitpid(pid, 0)
            return describe(status)
        time.sleep(0.01)


def describe(status: int) -> str:
    """A wait status as the agent's messages say it: ``signal SIGKILL``, ``exit code 1``."""
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _run(control: socket.socket, state: Any, *, serve: Serve, prepare: Prepare, parent: int) -> int:
    """The zygote: forks a child for each ``fork``, makes its state again for each ``prepare`` and
    reports each child's end, until the agent closes the socket (or its thread that forked us ends)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the agent, which then closes the socket
    if not _dies_with(parent):
        return 0
    children: dict[int, int] = {}  # pidfd by pid: readable once the child ended
    while True:
        waited: list[int] = [control.fileno(), *children.values()]
        ready, _, _ = select.select(waited, [], [])
        for pid, pidfd in list(children.items()):
            if pidfd in ready:
                _, status = os.waitpid(pid, 0)
                os.close(pidfd)
                del children[pid]
                if not _tell(control, ("ended", pid, status)):
                    return 0
        if control.fileno() not in ready:
            continue
        try:
            data = control.recv(BUFFER)
        except OSError:
            return 0
        if not data:
            return 0
        request = pickle.loads(data)
        if request[0] == "fork":
            try:
                pid, ours = _fork_child(control, state, serve=serve, pidfds=children.values())
            except OSError as exc:  # no process to be had now (EAGAIN, ENOMEM): the agent tries later
                if not _tell(control, ("refused", exc.errno, exc.strerror or str(exc))):
                    return 0
                continue
            children[pid] = os.pidfd_open(pid)
            try:
                socket.send_fds(control, [pickle.dumps(("forked", pid))], [ours.fileno()])
            except OSError:
                return 0
            finally:
                ours.close()
        elif request[0] == "prepare":
            problem = ""
            try:
                state = prepare(request[1])
                gc.freeze()  # the new state is shared with the children as the first one was
            except Exception as exc:  # reported to the agent, which then forks a zygote of its own
                problem = f"{type(exc).__name__}: {exc}"
            if not _tell(control, ("prepared", problem)):
                return 0


def _fork_child(
    control: socket.socket, state: Any, *, serve: Serve, pidfds: Any
) -> tuple[int, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    zygote = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        raise
    if pid == 0:
        code = 1
        try:
            control.close()
            ours.close()
            for pidfd in pidfds:
                os.close(pidfd)
            code = serve(connections.Connection(theirs.detach()), state) if _dies_with(zygote) else 0
        except BaseException:  # the edge of a process: say why
            traceback.print_exc()
        finally:
            os._exit(code)
    theirs.close()
    return pid, ours


def _tell(control: socket.socket, message: tuple[Any, ...]) -> bool:
    """``message`` sent to the agent; False when the agent is gone."""
    try:
        control.send(pickle.dumps(message))
    except OSError:
        return False
    return True


def _dies_with(parent: int) -> bool:
    """SIGKILL when the thread that forked this process ends; False if its process already has."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    return os.getppid() == parent
