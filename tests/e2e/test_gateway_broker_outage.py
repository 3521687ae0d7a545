"""Issue 11, item 6g: while RabbitMQ is unreachable every write answers 503 UNAVAILABLE
with Retry-After (contract sections 2 and 6), never 500, and the gateway recovers by
itself when the broker is back. The shared RabbitMQ is never stopped: one gateway is
pointed at a port where nothing listens, another at a TCP proxy of this test in front of
the real broker, which the test cuts (closes every connection and stops accepting) and
restores."""

import asyncio
import contextlib
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.e2e import test_gateway
from tests.e2e.test_gateway import booked, booking_body, new_host, window
from tests.support.commands import at
from tests.support.http_client import assert_problem, bearer, sign_up, sign_up_body
from tests.support.processes import free_port, gateway_process

documented = test_gateway.documented  # every answer is held to the OpenAPI document


def _amqp_at(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{parts.username}:{parts.password}@127.0.0.1:{port}", parts.path, "", ""))


@contextlib.asynccontextmanager
async def gateway_on_broker(sandbox, tmp_path, amqp_port: int):
    port = free_port()
    process = gateway_process(
        sandbox.env(BOOKING_AMQP_URL=_amqp_at(sandbox.amqp_url, amqp_port)), tmp_path / "gateway.log", port
    )
    await asyncio.to_thread(process.start)  # in a thread: the proxy runs on this loop
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        await asyncio.to_thread(process.terminate)


async def _writes(http: httpx.AsyncClient, host: tuple[str, str], user: tuple[str, str], booking_id: str):
    """One request to every write route, as their callers would send them."""
    host_id, host_token = host
    yield await http.post("/users", json=sign_up_body())
    yield await http.post("/availability", json=window(host_id, at(13), at(14)), headers=bearer(host_token))
    removal = {"hostId": host_id, "startTime": at(11), "endTime": at(12)}
    yield await http.post("/availability/removals", json=removal, headers=bearer(host_token))
    yield await http.post("/booking", json=booking_body(host_id, user[0], at(10), at(10, 30)), headers=bearer(user[1]))
    yield await http.post(f"/booking/{booking_id}/cancel", headers=bearer(user[1]))
    move = {"startTime": at(10, 30), "endTime": at(11)}
    yield await http.post(f"/booking/{booking_id}/reschedule", json=move, headers=bearer(user[1]))


def assert_unavailable(response: httpx.Response) -> None:
    assert_problem(response, 503, "UNAVAILABLE")
    assert int(response.headers["retry-after"]) > 0


async def _setup(gateway: str) -> tuple[tuple[str, str], tuple[str, str], str]:
    """Through the session's working gateway: a host with a window, a user and a booking."""
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
        host = await new_host(http)
        user = await sign_up(http)
        return host, user, (await booked(http, host[0], user))["bookingId"]


async def test_with_no_broker_at_all_every_write_is_unavailable_and_reads_still_work(
    gateway, sandbox, tmp_path, documented
):
    host, user, booking_id = await _setup(gateway)
    async with gateway_on_broker(sandbox, tmp_path, free_port()) as (url, _):
        async with httpx.AsyncClient(base_url=url, timeout=30, event_hooks={"response": [documented]}) as http:
            for _ in range(2):
                statuses = []
                async for response in _writes(http, host, user, booking_id):
                    assert_unavailable(response)
                    statuses.append(response.status_code)
                assert statuses == [503] * 6
            health = await http.get("/health")
            assert health.status_code == 503
            assert health.json() == {"status": "degraded", "broker": False, "database": True}
            mine = await http.get(f"/booking/{booking_id}", headers=bearer(user[1]))
            assert mine.status_code == 200, mine.text


class CuttableProxy:
    """A TCP proxy on loopback in front of the real broker that a test can cut and restore."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        self.server.close()
        for writer in list(self.pipes):
            writer.transport.abort()
        self.pipes.clear()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.pipes |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.pipes -= {writer, up_writer}


async def _until(deadline: float, ask, done) -> list[int]:
    """Ask again (every 0.5 s) until `done(response)` or the deadline; every status seen."""
    seen = []
    while True:
        response = await ask()
        seen.append(response.status_code)
        if done(response) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.5)


async def test_a_broker_that_goes_away_and_comes_back(gateway, sandbox, tmp_path, documented):
    host, user, booking_id = await _setup(gateway)
    proxy = CuttableProxy(urlsplit(sandbox.amqp_url).port or 5672)
    await proxy.restore()
    try:
        async with gateway_on_broker(sandbox, tmp_path, proxy.port) as (url, _):
            async with httpx.AsyncClient(base_url=url, timeout=30, event_hooks={"response": [documented]}) as http:
                assert (await http.post("/users", json=sign_up_body())).status_code == 201
                for _ in range(2):  # the broker goes away twice
                    await proxy.cut()
                    for _ in range(3):
                        async for response in _writes(http, host, user, booking_id):
                            if response.status_code != 503:
                                pytest.fail(f"{response.request.method} {response.request.url.path} while the "
                                            f"broker is away: {response.status_code} {response.text}")
                            assert_unavailable(response)
                        await asyncio.sleep(1)
                    assert (await http.get("/health")).json()["broker"] is False
                    await proxy.restore()
                    seen = await _until(time.monotonic() + 30, lambda: http.post("/users", json=sign_up_body()),
                                        lambda r: r.status_code == 201)
                    assert seen[-1] == 201 and set(seen) <= {201, 503}, seen
                    assert (await http.get("/health")).json()["broker"] is True
                    booking = await http.post("/booking", json=booking_body(host[0], user[0], at(11), at(11, 30)),
                                              headers=bearer(user[1]))
                    assert booking.status_code in (201, 409), booking.text  # 409 SLOT_TAKEN the second time
    finally:
        with contextlib.suppress(Exception):
            await proxy.cut()
