"""What the broker says about our consumers, from the management API: which of
them are registered and which are the single active consumer of their queue.
AMQP 0-9-1 does not tell a consumer that it became active."""

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import httpx


@dataclass(frozen=True, slots=True)
class ConsumerState:
    registered: frozenset[str]  # every consumer tag the broker knows in the vhost
    active: frozenset[str]  # of those, the active ones

    def has_consumer(self, tag_prefix: str) -> bool:
        return any(tag.startswith(tag_prefix) for tag in self.registered)


class BrokerView:
    def __init__(self, management_url: str, amqp_url: str) -> None:
        parts = urlsplit(management_url)
        self.vhost = unquote(urlsplit(amqp_url).path.lstrip("/")) or "/"
        self._client = httpx.AsyncClient(
            base_url=f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}",
            auth=(parts.username or "guest", parts.password or "guest"),
            timeout=5,
        )

    async def consumers(self) -> ConsumerState:
        response = await self._client.get(f"/api/consumers/{quote(self.vhost, safe='')}")
        response.raise_for_status()
        consumers = response.json()
        return ConsumerState(
            frozenset(c["consumer_tag"] for c in consumers),
            frozenset(c["consumer_tag"] for c in consumers if c.get("active")),
        )

    async def queue_depth(self, queue: str) -> int:
        response = await self._client.get(f"/api/queues/{quote(self.vhost, safe='')}/{quote(queue, safe='')}")
        response.raise_for_status()
        return int(response.json().get("messages", 0))

    async def exchange_routing(self, exchange: str) -> tuple[str | None, set[str]]:
        """The exchange's type (None when it does not exist) and the queues bound to it."""
        base = f"/api/exchanges/{quote(self.vhost, safe='')}/{quote(exchange, safe='')}"
        response = await self._client.get(base)
        if response.status_code == 404:
            return None, set()
        response.raise_for_status()
        bindings = await self._client.get(f"{base}/bindings/source")
        bindings.raise_for_status()
        queues = {b["destination"] for b in bindings.json() if b.get("destination_type") == "queue"}
        return response.json()["type"], queues

    async def close(self) -> None:
        await self._client.aclose()
