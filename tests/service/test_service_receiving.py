"""An NDJSON upload is read off the connection by the worker thread that parses it: each line is parsed
once its chunk has arrived, before the next one is asked for; past the limit it is 413, and a failed
parse drains the rest."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread
import orjson
import pytest

from leitplanke.service import problems, receiving, uploadparsing

HEADER = {"schemaVersion": "leitplanke.dev/upload/v2", "app": "checkout", "env": "prod", "summary": {}}
RESULT = {
    "policy": "no-privileged",
    "rule": "containers",
    "verdict": "fail",
    "severity": "high",
    "message": "container web is privileged",
    "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
    "location": {"path": "spec.containers[0]"},
}


def _in_worker_thread(
    chunks: list[bytes], pulled: list[int], work: Callable[[receiving.WireBody], Any]
) -> Any:
    """``work`` on a WireBody of ``chunks`` in a thread anyio started; ``pulled`` gets each chunk's index
    as the event loop hands it over."""

    async def arriving() -> AsyncIterator[bytes]:
        for index, chunk in enumerate(chunks):
            pulled.append(index)
            yield chunk

    async def main() -> Any:
        wire = receiving.WireBody(arriving(), limit=1024)
        return await anyio.to_thread.run_sync(work, wire)

    return anyio.run(main)


def _opener(wire: receiving.WireBody) -> Callable[[], io.BufferedReader]:
    return lambda: io.BufferedReader(uploadparsing.DecodedReader(wire, gzip=False, limit=1024), 1 << 16)


def test_each_line_is_parsed_when_its_chunk_has_arrived_not_after_the_whole_body() -> None:
    chunks = [orjson.dumps(HEADER) + b"\n", orjson.dumps(RESULT) + b"\n", orjson.dumps(RESULT) + b"\n"]
    pulled: list[int] = []

    def parse(wire: receiving.WireBody) -> list[tuple[list[int], str]]:
        upload = uploadparsing.read_ndjson(_opener(wire))
        seen = [(list(pulled), upload.header.app)]
        for result in upload.results:
            seen.append((list(pulled), result.policy))
        return seen

    assert _in_worker_thread(chunks, pulled, parse) == [
        ([0], "checkout"),
        ([0, 1], "no-privileged"),
        ([0, 1, 2], "no-privileged"),
    ]


def test_a_body_past_the_limit_is_refused_with_413_as_it_arrives() -> None:
    chunks = [orjson.dumps(HEADER) + b"\n", b" " * 1000 + b"\n", b"never asked for\n"]
    pulled: list[int] = []

    def read_all(wire: receiving.WireBody) -> bytes:
        return wire.read()  # type: ignore[no-any-return]  # RawIOBase.read: bytes, or None when non-blocking

    with pytest.raises(problems.Refusal) as refused:
        _in_worker_thread(chunks, pulled, read_all)
    assert (refused.value.status_code, refused.value.detail) == (
        413,
        "the request body is larger than 1024 bytes",
    )
    assert pulled == [0, 1]


def test_drain_reads_the_rest_of_the_body_and_forgets_it() -> None:
    chunks = [b"first\n", b"second\n", b"third\n"]
    pulled: list[int] = []

    def first_then_drain(wire: receiving.WireBody) -> tuple[bytes, bytes]:
        first = wire.read(6)
        wire.drain()
        return first, wire.read()

    assert _in_worker_thread(chunks, pulled, first_then_drain) == (b"first\n", b"")
    assert pulled == [0, 1, 2]
