"""A TCP proxy between a process under test and PostgreSQL or Redis, to fail on purpose.

It runs as its own process so that a test can stop it for real: SIGKILL is an outage (open
connections reset, new ones refused), SIGSTOP a partition (the kernel still accepts connections,
but nothing comes back), SIGCONT the end of one, and a restart on the same port a recovery.
Written by hand: it is a test fixture of 40 lines, and no test library offers one to run as a
separate process.
"""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _serve(listen_port: int, host: str, port: int) -> None:
    async def handle(client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        try:
            upstream, to_upstream = await asyncio.open_connection(host, port)
        except OSError:
            to_client.close()
            return
        await asyncio.gather(_pipe(client, to_upstream), _pipe(upstream, to_client))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
