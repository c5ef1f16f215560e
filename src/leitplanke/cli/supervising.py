"""Pre-forking for ``leitplanke webhook --workers N``: the listening socket is bound once, N worker
processes forked from the process that compiled the policies share it, and a replacement is forked
as soon as a worker announces that it is recycling (``--max-requests``) or dies.

``supervise`` runs in the parent (it serves nothing, so it never grows); ``cli/webhook`` gives it the
function each worker runs. SIGTERM or SIGINT stops every worker gracefully, SIGKILL after a deadline.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import gc
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

STOP_SECONDS = 25.0  # within Kubernetes' 30 s grace: a worker's requests, then the queue's drain (10 s)
RESTART_PAUSE = 1.0  # a worker that dies within this of its start is replaced only after it
PR_SET_PDEATHSIG = 1


def bind(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """The listening socket every worker accepts on: one kernel queue, so that connections waiting
    in it are taken by the other workers while one stops (not reset, as with a socket per worker)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(backlog)
    listener.set_inheritable(True)
    return listener


@dataclass
class Supervisor:
    """The live workers by pid; those that announced their recycling are ``leaving`` and are already
    replaced, so the workers taking connections stay ``workers`` in number."""

    workers: int
    run_worker: Callable[[int], int]  # in the child: (announce fd) → exit code
    log: Callable[[str], None]
    on_exit: Callable[[int], None] = lambda _pid: None  # in the supervisor, with the pid of an exited worker
    live: dict[int, float] = field(default_factory=dict)  # pid → start time (monotonic)
    leaving: set[int] = field(default_factory=set)
    stopping: bool = False

    def supervise(self) -> int:
        """Keep ``workers`` workers taking connections until SIGTERM or SIGINT; then stop them all."""
        reader, writer = os.pipe()
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not self.stopping:
                self._fill(reader, writer)
                self._read_announcements(reader)
                self._reap(reader)
            self._stop_all(reader)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(reader)
            os.close(writer)
        return 0

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _fill(self, reader: int, writer: int) -> None:
        parent = os.getpid()
        while len(self.live) - len(self.leaving) < self.workers and not self.stopping:
            # the compiled policies move to the collector's permanent generation: a worker's collections
            # then never write to their pages, which stay shared with the supervisor (copy-on-write)
            gc.freeze()
            pid = os.fork()
            if pid == 0:  # the child: never returns into the supervisor's loop
                os.close(reader)
                os._exit(self._child(writer, parent=parent))
            self.live[pid] = time.monotonic()
            self.log(f"worker {pid} started")

    def _child(self, writer: int, *, parent: int) -> int:
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _die_with_parent(parent=parent)
            faulthandler.enable()  # a crash in native code leaves the Python stacks in the log
            code = self.run_worker(writer)
        except BaseException as exc:  # the edge of a process: report, never unwind into the parent's code
            print(f"leitplanke webhook worker {os.getpid()} failed: {exc!r}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        return code

    def _read_announcements(self, reader: int, *, wait: float = 0.2) -> None:
        ready, _, _ = select.select([reader], [], [], wait)
        if not ready:
            return
        for line in os.read(reader, 4096).split():  # each announcement is one write under PIPE_BUF
            pid = int(line)
            if pid in self.live and pid not in self.leaving:
                self.leaving.add(pid)
                self.log(f"worker {pid} recycling: its replacement starts now")

    def _reap(self, reader: int) -> None:
        while self.live:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.leaving:
                # its announcement may still be in the pipe: it wrote it before it exited
                self._read_announcements(reader, wait=0)
            started = self.live.pop(pid, time.monotonic())
            self.on_exit(pid)
            recycled = pid in self.leaving
            self.leaving.discard(pid)
            self.log(f"worker {pid} exited {_describe(status)}" + (" (recycled)" if recycled else ""))
            if not recycled and not self.stopping and time.monotonic() - started < RESTART_PAUSE:
                time.sleep(RESTART_PAUSE)  # a worker that cannot start must not become a fork loop

    def _stop_all(self, reader: int) -> None:
        for pid in self.live:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while self.live and time.monotonic() < deadline:
            self._reap(reader)
            time.sleep(0.05)
        for pid in list(self.live):
            self.log(f"worker {pid} did not stop in {STOP_SECONDS:g} s: killed")
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.live.pop(pid)
            self.on_exit(pid)


def announce(writer: int) -> None:
    """From a worker: tell the supervisor it is recycling, so its replacement starts now."""
    os.write(writer, f"{os.getpid()}\n".encode())


def _die_with_parent(*, parent: int) -> None:
    """A worker gets SIGTERM when the supervisor dies (even by SIGKILL): no orphan keeps the port."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"on signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"with code {os.waitstatus_to_exitcode(status)}"
