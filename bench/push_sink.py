"""A fast HTTPS push-service front door for bench/push.py: answers 201 without decrypting.

Like a real push service's edge, it accepts the request and queues nothing; it parses just
enough HTTP/1.1 (keep-alive, Content-Length) to answer each request. `GET /count` answers how
many pushes it accepted. Loopback only.

    .venv/bin/python bench/push_sink.py --cert cert.pem --key key.pem [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from typing import Any

CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nLocation: /m\r\n\r\n"


class Counter:
    pushes = 0


class PushSinkProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.request_end: int | None = None  # end of the current request, once headers are in
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's SSL transport is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while True:
            if self.request_end is None:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                head = buffer[:head_end].lower()
                length = 0
                at = head.find(b"\r\ncontent-length:")
                if at >= 0:
                    line_end = head.find(b"\r\n", at + 2)
                    length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
                self.request_end = head_end + 4 + length
            if len(buffer) < self.request_end:
                break
            request, buffer = buffer[: self.request_end], buffer[self.request_end :]
            self.request_end = None
            if request[:10].lower() == b"get /count":
                body = str(Counter.pushes).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            else:
                Counter.pushes += 1
                self.transport.write(CREATED)
        self.buffer = buffer


async def serve(cert: str, key: str, port: int) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        PushSinkProtocol, "127.0.0.1", port, ssl=context, backlog=2048
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"ready {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.cert, args.key, args.port))
    else:
        uvloop.run(serve(args.cert, args.key, args.port))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
