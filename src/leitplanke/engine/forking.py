"""Forking: run a function over items in forked worker processes and yield what comes back.

Called by ``scanning`` (sources, then set-level groups). The function and the items reach
the workers through ``fork`` itself (``Process(target=..., args=...)``): never pickled, never
parked in a module global. Only answers travel, one pipe per worker; unordered. A worker
whose resident memory grew by ``retire_mb`` retires and a fresh one is forked in its place: the CEL
runtime keeps about 1.4 kB of every document evaluated (references it never gives back), so a
worker that lived through a whole large scan would grow with the corpus.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.sharedctypes import Synchronized
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WorkerFailed(RuntimeError):
    """A worker raised (its traceback is the message) or died without answering."""


def forked_map(
    function: Callable[[T], R], items: Sequence[T], *, processes: int, retire_mb: int = 0
) -> Iterator[R]:
    """``function(item)`` for every item, in the order workers finish them.

    Workers take the next item as they become free (a shared counter), so one slow item
    does not hold back the others; put the largest items first. ``retire_mb``: a worker whose
    resident memory grew by that much since it started is replaced (0: never).
    """
    context = multiprocessing.get_context("fork")
    following = context.Value("l", 0)
    readers: list[Connection] = []
    workers: list[Any] = []

    def start() -> None:
        reader, writer = context.Pipe(duplex=False)
        arguments = (function, items, following, writer, retire_mb * 1024)
        worker = context.Process(target=_work, args=arguments, daemon=True)
        worker.start()
        writer.close()  # the worker holds the only writer: its end means EOF here
        readers.append(reader)
        workers.append(worker)

    for _ in range(max(1, min(processes, len(items)))):
        start()
    try:
        while readers:
            for ready in wait(readers):
                reader = readers[readers.index(ready)]  # type: ignore[arg-type]  # wait returns what it was given
                try:
                    status, value = reader.recv()
                except EOFError:
                    raise WorkerFailed("a worker process ended without answering") from None
                if status == "done" or status == "retired":
                    readers.remove(reader)
                    reader.close()
                    if status == "retired" and following.value < len(items):
                        start()  # in its place, from this process's memory as it is
                elif status == "failed":
                    raise WorkerFailed(value)
                else:
                    yield value
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        for reader in readers:
            reader.close()


def _work(
    function: Callable[[Any], Any],
    items: Sequence[Any],
    following: Synchronized[int],
    writer: Connection,
    retire_kb: int,
) -> None:
    """A worker's loop: take the next item, answer, until none is left or it grew by ``retire_kb``."""
    started = _resident_kb()  # the parent's pages count from the fork on: only growth counts
    try:
        while True:
            if retire_kb and _resident_kb() - started >= retire_kb:
                writer.send(("retired", None))
                return
            with following.get_lock():
                index = following.value
                following.value = index + 1
            if index >= len(items):
                break
            writer.send(("ok", function(items[index])))
        writer.send(("done", None))
    except BaseException:
        writer.send(("failed", traceback.format_exc()))
    finally:
        writer.close()


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _resident_kb() -> int:
    """This process's resident memory in kB; 0 where ``/proc`` cannot tell (never retires)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0
