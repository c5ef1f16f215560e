"""Forking: run a function over items in forked worker processes and yield what comes back.

Called by ``scanning`` (sources, then set-level groups). The function and the items reach
the workers through ``fork`` itself (``Process(target=..., args=...)``): never pickled, never
parked in a module global. Only answers travel, one pipe per worker; unordered.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.sharedctypes import Synchronized
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WorkerFailed(RuntimeError):
    """A worker raised (its traceback is the message) or died without answering."""


def forked_map(function: Callable[[T], R], items: Sequence[T], *, processes: int) -> Iterator[R]:
    """``function(item)`` for every item, in the order workers finish them.

    Workers take the next item as they become free (a shared counter), so one slow item
    does not hold back the others; put the largest items first.
    """
    context = multiprocessing.get_context("fork")
    following = context.Value("l", 0)
    readers: list[Connection] = []
    workers = []
    for _ in range(max(1, min(processes, len(items)))):
        reader, writer = context.Pipe(duplex=False)
        worker = context.Process(target=_work, args=(function, items, following, writer), daemon=True)
        worker.start()
        writer.close()  # the worker holds the only writer: its end means EOF here
        readers.append(reader)
        workers.append(worker)
    try:
        while readers:
            for ready in wait(readers):
                reader = readers[readers.index(ready)]  # type: ignore[arg-type]  # wait returns what it was given
                try:
                    status, value = reader.recv()
                except EOFError:
                    raise WorkerFailed("a worker process ended without answering") from None
                if status == "done":
                    readers.remove(reader)
                    reader.close()
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
    function: Callable[[Any], Any], items: Sequence[Any], following: Synchronized[int], writer: Connection
) -> None:
    """A worker's loop: take the next item, answer, until none is left."""
    try:
        while True:
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
