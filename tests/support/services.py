"""Finding PostgreSQL and RabbitMQ for the tests, and giving each run its own
database and vhost. Local services first (BOOKING_DATABASE_URL, BOOKING_AMQP_URL,
BOOKING_RABBITMQ_MANAGEMENT_URL or the local defaults); where they do not answer and
a Docker engine works, testcontainers starts them; otherwise the run stops and says
how to start them."""

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
from faststream.rabbit import RabbitBroker

from services.settings import Settings
from services.worker.topology import declare_topology


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _default(setting: str) -> str:
    return Settings.model_fields[setting].default


# The services' own defaults; on the database server, the maintenance database
# (every test creates a database of its own).
DEFAULT_DB = _with_path(_default("database_url"), "/postgres")
DEFAULT_AMQP = _default("amqp_url")
DEFAULT_MANAGEMENT = _default("rabbitmq_management_url")

HOW_TO_START = """PostgreSQL or RabbitMQ is not reachable and no Docker engine is available.
Start them (bash .ci/run does this), or point the tests at running ones:
  BOOKING_DATABASE_URL=postgresql://user@host:5432/any
  BOOKING_AMQP_URL=amqp://guest:guest@host:5672/
  BOOKING_RABBITMQ_MANAGEMENT_URL=http://guest:guest@host:15672
RabbitMQ needs the plugins rabbitmq_sharding and rabbitmq_management."""


@dataclass
class ServerUrls:
    database: str  # any database on the server; tests create their own
    amqp: str  # the server; tests add their own vhost
    management: str


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _docker_works() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


def find_servers() -> tuple[ServerUrls, list]:
    """The servers to use, and containers to stop afterwards (if any were started)."""
    urls = ServerUrls(
        os.environ.get("BOOKING_DATABASE_URL", DEFAULT_DB),
        os.environ.get("BOOKING_AMQP_URL", DEFAULT_AMQP),
        os.environ.get("BOOKING_RABBITMQ_MANAGEMENT_URL", DEFAULT_MANAGEMENT),
    )
    containers = []
    pg_ok, mq_ok = _answers(urls.database, 5432), _answers(urls.amqp, 5672)
    if (pg_ok and mq_ok) or not _docker_works():
        if not (pg_ok and mq_ok):
            raise RuntimeError(HOW_TO_START)
        return urls, containers
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    if not pg_ok:
        pg = PostgresContainer("postgres:15", driver=None).start()
        containers.append(pg)
        urls.database = pg.get_connection_url()
    if not mq_ok:
        mq = RabbitMqContainer("rabbitmq:3.10-management").with_exposed_ports(5672, 15672).start()
        mq.exec("rabbitmq-plugins enable rabbitmq_sharding")
        containers.append(mq)
        host = mq.get_container_host_ip()
        urls.amqp = f"amqp://guest:guest@{host}:{mq.get_exposed_port(5672)}/"
        urls.management = f"http://guest:guest@{host}:{mq.get_exposed_port(15672)}"
    return urls, containers


def _management(urls: ServerUrls) -> httpx.Client:
    parts = urlsplit(urls.management)
    base = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port or 15672}", "", "", ""))
    return httpx.Client(base_url=base, auth=(parts.username or "guest", parts.password or "guest"), timeout=30)


@dataclass
class Sandbox:
    """One database and one vhost, used by one test run and removed after it."""

    urls: ServerUrls
    database_name: str
    vhost: str

    @property
    def database_url(self) -> str:
        return _with_path(self.urls.database, f"/{self.database_name}")

    @property
    def amqp_url(self) -> str:
        return _with_path(self.urls.amqp, "/" + quote(self.vhost, safe=""))

    def management(self) -> httpx.Client:
        return _management(self.urls)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(BOOKING_DATABASE_URL=self.database_url, BOOKING_AMQP_URL=self.amqp_url)
        env.update(extra)
        return env


def create_sandbox(urls: ServerUrls, label: str) -> Sandbox:
    suffix = uuid.uuid4().hex[:10]
    sandbox = Sandbox(urls, f"booking_{label}_{suffix}", f"booking-{label}-{suffix}")
    with _management(urls) as api:
        vhost = quote(sandbox.vhost, safe="")
        api.put(f"/api/vhosts/{vhost}").raise_for_status()
        user = urlsplit(urls.amqp).username or "guest"
        api.put(
            f"/api/permissions/{vhost}/{user}", json={"configure": ".*", "write": ".*", "read": ".*"}
        ).raise_for_status()
    return sandbox


def destroy_sandbox(sandbox: Sandbox) -> None:
    with sandbox.management() as api:
        api.delete(f"/api/vhosts/{quote(sandbox.vhost, safe='')}")

    async def drop() -> None:
        conn = await asyncpg.connect(_with_path(sandbox.urls.database, "/postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{sandbox.database_name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


async def declare_worker_topology(amqp_url: str, partitions: int = 1) -> None:
    """The worker's topology on a vhost, with no worker running."""
    broker = RabbitBroker(amqp_url, logger=None)
    await broker.connect()
    try:
        await declare_topology(broker, partitions=partitions)
    finally:
        await broker.stop()
