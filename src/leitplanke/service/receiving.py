"""Receiving a request body from the worker thread that parses it, chunk by chunk as it arrives.

``service.uploads`` hands a ``WireBody`` to the worker thread of an NDJSON upload: the parser pulls
the body off the connection through the event loop (``anyio.from_thread``) one chunk at a time, so it
parses while the client still sends and holds one chunk, never the whole body. Past ``limit`` bytes
it raises 413. A parse that fails early ``drain``s the rest first: a body over the limit gets 413
whatever it holds, and the client reads the answer instead of a broken pipe.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import anyio.from_thread

from leitplanke.service import problems


class ChunkedBody(io.RawIOBase):
    """A body read a chunk at a time from wherever ``_chunk`` takes it, holding one chunk."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = False  # set by ``_chunk`` when the body is over
        self.pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            if self.ended:
                return 0
            self.pending = memoryview(self._chunk())
        view = memoryview(buffer).cast("B")
        size = min(len(view), len(self.pending))
        view[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size

    def drain(self) -> None:
        """Read the rest of the body and forget it."""
        self.pending = memoryview(b"")
        while not self.ended:
            self._chunk()

    def _chunk(self) -> bytes:
        """The next chunk (possibly empty); sets ``ended`` at the end."""
        raise NotImplementedError


class WireBody(ChunkedBody):
    """The bytes of ``chunks`` (the request's body stream), for a thread that anyio started;
    past ``limit`` bytes (``drain`` too) it raises 413."""

    def __init__(self, chunks: AsyncIterator[bytes], *, limit: int) -> None:
        super().__init__()
        self.chunks, self.limit = chunks, limit
        self.seen = 0

    def _chunk(self) -> bytes:
        return anyio.from_thread.run(self._next)

    def read_chunk(self) -> bytes:
        """The next chunk as it arrived (possibly empty); b"" once ``ended``."""
        return b"" if self.ended else self._chunk()

    async def _next(self) -> bytes:
        """The next chunk, b"" at the end; in the event loop."""
        try:
            chunk = await self.chunks.__anext__()
        except StopAsyncIteration:
            self.ended = True
            return b""
        self.seen += len(chunk)
        if self.seen > self.limit:
            self.ended = True
            raise problems.too_large(self.limit)
        return chunk
