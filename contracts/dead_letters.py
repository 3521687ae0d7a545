"""The headers of a dead letter (contract section 5): the worker writes them when it
dead-letters a command, the dead-letter tool and the tests read them back through
these same names."""

# Written by the worker (services.worker.publishing, services.worker.pipeline).
BOOKING_HEADER_PREFIX = "x-booking-"
REASON_HEADER = "x-booking-reason"  # HANDLER_FAILED or MALFORMED_MESSAGE
ERROR_CLASS_HEADER = "x-booking-error-class"
ERROR_MESSAGE_HEADER = "x-booking-error-message"
ATTEMPTS_HEADER = "x-booking-attempts"
FIRST_FAILURE_HEADER = "x-booking-first-failure"  # ISO 8601, UTC
LAST_FAILURE_HEADER = "x-booking-last-failure"
PARTITION_HEADER = "x-booking-partition"
DETAIL_HEADER = "x-booking-detail"  # what is wrong with a malformed message

# Set by the dead-letter tool on a message it replays to booking.commands.
REPLAYED_AT_HEADER = "x-booking-replayed-at"

# Written by the broker when it dead-letters or redelivers from a quorum queue.
DEATHS_HEADER = "x-death"
FIRST_DEATH_REASON_HEADER = "x-first-death-reason"
DELIVERY_COUNT_HEADER = "x-delivery-count"

# Headers that record a failure: the worker's x-booking-* and the broker's dead-letter
# bookkeeping. Dead-lettering writes them afresh and replay strips them.
FAILURE_HEADER_PREFIXES = (
    BOOKING_HEADER_PREFIX, DEATHS_HEADER, "x-first-death-", "x-last-death-", DELIVERY_COUNT_HEADER,
)


def is_failure_record(header: str) -> bool:
    return header.startswith(FAILURE_HEADER_PREFIXES)
