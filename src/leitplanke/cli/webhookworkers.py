"""One webhook worker: Uvicorn on the shared listening socket, with its own TLS context (reloaded when
the files change), its own decision-queue connection, waiver sync and metrics, and, with a request
limit, its own retirement: stop accepting, answer with ``Connection: close`` a little longer, finish.

``cli/webhook`` runs it in-process (one worker, no limit) or in each child of ``cli/supervising``.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leitplanke.cli import certificates, supervising

# cli and service are sibling layers: the app's pieces are imported by name, as Uvicorn imports
# ``serve``'s
JOBS = "leitplanke.service.admissionjobs:background_jobs"
RECYCLING = "leitplanke.service.admissionrecycling:Recycling"
LINGER_MIN = 0.5  # after the listener closes: handshakes begun on it finish and get their answer
LINGER_MAX = 5.0  # a client sending within this on its keep-alive connection is told to close it
FIRST_SYNC_SECONDS = 5.0  # a new worker waits this long at most for the service's waivers


@dataclass(frozen=True)
class WorkerPlan:
    """What every worker runs: the app (built in the worker, after the fork), its TLS files, its
    background jobs' settings and its request limit."""

    make_app: Callable[[], Any]  # → the webhook app (``service.admission.Webhook``)
    tls: certificates.Certificates  # the parent's, checked at start; each worker loads its own copy
    jobs: dict[str, Any]  # ``background_jobs``'s keyword arguments
    max_requests: int = 0
    max_requests_jitter: int = 0

    def run(self, listener: socket.socket, *, announce_fd: int | None) -> int:
        """Serve on ``listener`` until SIGTERM or, with a limit, until retired; the exit code."""
        import uvicorn
        from uvicorn.importer import import_from_string

        tls = certificates.Certificates(
            cert_file=self.tls.cert_file, key_file=self.tls.key_file, client_ca_file=self.tls.client_ca_file
        )
        app = self.make_app()
        limit = self.max_requests + random.randint(0, self.max_requests_jitter) if self.max_requests else 0
        retiring: list[asyncio.Task[None]] = []  # holds the task: the loop keeps only weak references

        def on_limit() -> None:
            retiring.append(asyncio.get_running_loop().create_task(_retire(server, announce_fd)))

        served = uvicorn.Config(
            import_from_string(RECYCLING)(app, limit, on_limit),
            log_level="warning",
            access_log=False,
            lifespan="on",
            ssl_context_factory=lambda _config, _default: tls.context,
        )
        server = uvicorn.Server(served)
        # Uvicorn's own loop (uvloop where installed), with the certificate watcher on it
        with asyncio.Runner(loop_factory=served.get_loop_factory()) as runner:
            jobs = import_from_string(JOBS)(app, **self.jobs)
            runner.run(_serve(server, [listener], tls, app, jobs))
        return 0


async def _serve(
    server: Any, sockets: list[socket.socket], tls: certificates.Certificates, app: Any, jobs: Any
) -> None:
    # the service's waivers before the first answer: a new worker must let in what the others do
    await jobs.first_sync(seconds=FIRST_SYNC_SECONDS)
    tasks = [asyncio.create_task(tls.watch()), *(asyncio.create_task(job) for job in jobs.running)]

    async def stopping() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await jobs.stop()  # the queue shipped as far as it goes before the process ends

    # at the lifespan's shutdown: Uvicorn re-raises SIGTERM once ``serve`` ends, so no later code runs
    app.on_shutdown.append(stopping)
    try:
        await server.serve(sockets=sockets)
    finally:
        for task in tasks:
            task.cancel()


async def _retire(server: Any, announce_fd: int | None) -> None:
    """Stop taking connections (the others take them from the shared queue), let the clients of this
    worker's connections learn ``Connection: close`` from their next answer, then stop as at SIGTERM:
    requests in flight are answered, the idle connections left are closed, the lifespan ends."""
    if announce_fd is not None:
        supervising.announce(announce_fd)
    for listening in server.servers:
        listening.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LINGER_MAX
    await asyncio.sleep(LINGER_MIN)
    while server.server_state.connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
    server.should_exit = True
