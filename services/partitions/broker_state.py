"""What the migration reads of the broker's state (docs/partitioning.md): the
management API's queue listing beside the worker's BrokerView, and the topology
as observed at one moment. The steps act on it (services.partitions.migration)."""

import re
from dataclasses import dataclass
from urllib.parse import quote

from contracts.topology import COMMAND_EXCHANGE, MIGRATION_QUEUE
from services.worker.broker_view import BrokerView

PARTITION_NAME = re.compile(rf"^{re.escape(COMMAND_EXCHANGE)}\.(\d+)$")
# The management API's queue counts are samples: the queue's own tick and the stats
# collection, 5 s each by default (measured here: an unacknowledged delivery showed
# after up to 8.5 s). Only a sample taken this long after a queue stopped receiving
# commands proves that no delivery is still being handled.
STATS_LAG = 11.0


class ManagementView(BrokerView):
    """BrokerView plus the queue listing the migration needs."""

    async def queue_counts(self) -> dict[str, int]:
        """Every queue of the vhost and its last sampled depth (ready + unacknowledged)."""
        response = await self._client.get(
            f"/api/queues/{quote(self.vhost, safe='')}", params={"columns": "name,messages"}
        )
        response.raise_for_status()
        return {queue["name"]: int(queue.get("messages") or 0) for queue in response.json()}


@dataclass(frozen=True)
class Observed:
    exchange_type: str | None
    bound: frozenset[str]
    queues: frozenset[str]  # every queue of the vhost
    temporary_exchange: bool

    @property
    def partition_queues(self) -> set[str]:
        return {name for name in self.queues if PARTITION_NAME.match(name)}

    @property
    def migration_queue(self) -> bool:
        return MIGRATION_QUEUE in self.queues


def partition_index(name: str) -> int | None:
    match = PARTITION_NAME.match(name)
    return int(match.group(1)) if match else None
