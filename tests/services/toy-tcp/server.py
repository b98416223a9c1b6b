"""A tiny line protocol over TCP for the toy-tcp lab. MODE=no-pong answers PING with -ERR."""

import asyncio
import os

MODE = os.environ.get("MODE", "ok")


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        command, _, rest = line.strip().decode().partition(" ")
        if command.upper() == "PING":
            writer.write(b"-ERR not today\r\n" if MODE == "no-pong" else b"+PONG\r\n")
        elif command.upper() == "ECHO":
            writer.write(rest.encode() + b"\r\n")
        else:
            writer.write(b"-ERR unknown command\r\n")
        await writer.drain()
    writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve, "0.0.0.0", int(os.environ["PORT"]))
    print("toy-tcp serving", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
