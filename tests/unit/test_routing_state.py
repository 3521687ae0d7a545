"""routing_state: what a starting worker makes of the command exchange it finds."""

import pytest

from contracts.topology import COMMAND_EXCHANGE_TYPE, MIGRATION_QUEUE, partition_queue
from services.worker.topology import Routing, TopologyMismatch, routing_state


def partitions(count: int) -> set[str]:
    return {partition_queue(index) for index in range(count)}


def test_no_exchange_is_new():
    assert routing_state(None, set(), 4) is Routing.NEW


def test_exchange_without_bindings_is_new():
    assert routing_state(COMMAND_EXCHANGE_TYPE, set(), 4) is Routing.NEW


def test_exactly_the_configured_partitions_is_ready():
    assert routing_state(COMMAND_EXCHANGE_TYPE, partitions(4), 4) is Routing.READY


def test_bound_to_the_migration_queue_alone_is_migrating():
    assert routing_state(COMMAND_EXCHANGE_TYPE, {MIGRATION_QUEUE}, 4) is Routing.MIGRATING


@pytest.mark.parametrize("bound", [partitions(4), set(), {MIGRATION_QUEUE}])
def test_an_exchange_of_another_type_is_refused_with_the_migration_command(bound):
    with pytest.raises(TopologyMismatch) as refusal:
        routing_state("x-consistent-hash", bound, 4)
    assert "x-consistent-hash" in str(refusal.value)
    assert "booking partitions migrate --partitions 4" in str(refusal.value)


@pytest.mark.parametrize(
    "bound",
    [
        partitions(6),  # more partitions than configured
        partitions(3),  # fewer
        partitions(4) - {partition_queue(2)} | {partition_queue(7)},  # as many, but others
        partitions(4) | {MIGRATION_QUEUE},  # a migration half done
        partitions(4) | {"audit"},  # something else bound beside the partitions
    ],
)
def test_any_other_set_of_bound_queues_is_refused(bound):
    with pytest.raises(TopologyMismatch) as refusal:
        routing_state(COMMAND_EXCHANGE_TYPE, bound, 4)
    message = str(refusal.value)
    assert f"routes to {len(bound)} queues" in message
    assert "BOOKING_PARTITIONS=4" in message
    assert "booking partitions migrate --partitions 4" in message
