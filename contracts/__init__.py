"""The booking service's wire contract: importable by any service, depends on pydantic only."""

from contracts.commands import (
    COMMAND_TYPES,
    CancelBooking,
    Command,
    CreateAvailability,
    CreateBooking,
    RegisterUser,
    RemoveAvailability,
    RescheduleBooking,
)
from contracts.reasons import Reason
from contracts.topology import (
    COMMAND_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    EVENT_EXCHANGE,
    MAX_BODY_BYTES,
    partition_key,
    partition_queue,
)

__all__ = [
    "COMMAND_EXCHANGE",
    "COMMAND_TYPES",
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE",
    "EVENT_EXCHANGE",
    "MAX_BODY_BYTES",
    "CancelBooking",
    "Command",
    "CreateAvailability",
    "CreateBooking",
    "Reason",
    "RegisterUser",
    "RemoveAvailability",
    "RescheduleBooking",
    "partition_key",
    "partition_queue",
]
