"""Recycling a webhook worker: ``Recycling`` wraps the webhook's ASGI app, counts the HTTP requests
it serves and, at the worker's limit, tells ``cli/webhook`` to retire the worker; from then on every
answer carries ``Connection: close``, so that clients take their next request to another worker.

Why: the CEL runtime leaks a little per call (README, "Admission webhook"); a worker that is replaced
every few thousand requests bounds the memory of the whole webhook without dropping a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Recycling:
    app: ASGIApp
    limit: int  # HTTP requests this worker serves before it retires; 0: never
    on_limit: Callable[[], None]  # called once, on the request that reaches the limit
    served: int = 0
    retiring: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # the lifespan: the webhook's own shutdown hooks
            return
        self.served += 1
        if self.limit and self.served >= self.limit and not self.retiring:
            self.retiring = True
            self.on_limit()
        if not self.retiring:
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, closing)
