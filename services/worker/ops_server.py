"""A small HTTP endpoint for operators: GET /metrics (Prometheus) and GET /health
(broker and database connectivity, the partitions this process owns, and
whether each of them is being drained)."""

import asyncio
import json
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class OpsServer:
    def __init__(self, port: int, health: Callable[[], Awaitable[dict]]) -> None:
        self.port = port
        self.health = health
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "0.0.0.0", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            path = request_line.split(b" ")[1].decode() if request_line.count(b" ") >= 2 else "/"
            if path == "/metrics":
                status, content_type, body = 200, CONTENT_TYPE_LATEST, generate_latest()
            elif path == "/health":
                report = await self.health()
                status = 200 if report["healthy"] else 503
                content_type, body = "application/json", json.dumps(report).encode()
            else:
                status, content_type, body = 404, "text/plain", b"not found"
            writer.write(
                f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()
