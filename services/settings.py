"""Every knob of the system, read once from BOOKING_* environment variables."""

from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKING_", extra="ignore")

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/booking",
        description="plain postgresql:// URL; the worker creates the database if missing",
    )
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    partitions: int = Field(16, ge=1, le=1024, description="partition queues of booking.commands")
    http_port: int = Field(8000, description="the gateway's port")
    http_host: str = Field(
        "127.0.0.1", description="the gateway's bind address; off loopback it needs a token_secret of its own"
    )
    gateways: int = Field(1, ge=1, description="gateway processes sharing the port")
    workers: int = Field(1, ge=1, description="worker processes started by `make run` (services.launcher)")
    prefetch: int = Field(32, ge=1, description="unacknowledged deliveries per partition consumer")
    max_group: int = Field(
        32, ge=1, description="deliveries a lane handles in one transaction, across partitions, in arrival order"
    )
    lanes: int = Field(
        1, ge=1, description="transactions a worker runs side by side; each merges several partitions' groups"
    )
    db_pool_size: int = Field(10, ge=1)
    max_attempts: int = Field(
        5, ge=1, description="handling attempts before a failing (non-transient) command is dead-lettered"
    )
    retry_base_delay: float = Field(0.05, description="seconds; doubles per attempt, with jitter")
    retry_max_delay: float = Field(5.0, description="seconds; cap of the backoff")
    outbox_relay_interval: float = Field(1.0, description="seconds between outbox sweeps")
    outbox_grace: float = Field(5.0, description="seconds an unsent reply waits before the relay takes it")
    rabbitmq_management_url: str = Field(
        "http://guest:guest@127.0.0.1:15672", description="management API, to see which consumers are active"
    )
    metrics_port: int = Field(9100, ge=0, description="worker's /metrics and /health; 0 turns it off")
    balance_interval: float = Field(2.0, description="seconds between partition rebalancing rounds")
    member_ttl: float = Field(6.0, description="seconds without heartbeat before a worker counts as gone")
    standby_delay: float = Field(1.0, description="seconds before registering as standby on other shares")
    reply_timeout: float = Field(5.0, description="seconds the gateway waits for a reply before 202")
    token_secret: str = Field(
        "dev-only-secret-change-me", description="HMAC key of the gateway's bearer tokens"
    )
    token_ttl: int = Field(30 * 24 * 3600, description="seconds a bearer token stays valid")
    log_level: str = "INFO"

    @property
    def database_name(self) -> str:
        return urlsplit(self.database_url).path.lstrip("/") or "postgres"


def with_driver(url: str, scheme: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme, *parts[1:]))


@lru_cache
def get_settings() -> Settings:
    return Settings()
