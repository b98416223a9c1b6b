"""A small keep-alive HTTP server for load tests: every request answers 200 at once, or, with
``--stall-ms N``, the server stops answering for the first N ms of every wall-clock second (like a
stop-the-world pause) and answers everything that waited when the pause ends.

    python tests/services/fast.py PORT [--stall-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def pause_left(stall_s: float) -> None:
    into = time.time() % 1.0
    if into < stall_s:
        await asyncio.sleep(stall_s - into)


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stall_s: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            if length:
                await reader.readexactly(length)
            await pause_left(stall_s)
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip() or 0)
    return 0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--stall-ms", type=float, default=0.0)
    args = parser.parse_args()
    stall_s = args.stall_ms / 1000
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, stall_s), "127.0.0.1", args.port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
