"""Names of the RabbitMQ topology (contract section 2) and the partition-key rule."""

COMMAND_EXCHANGE = "booking.commands"
DEAD_LETTER_EXCHANGE = "booking.dead-letter"
DEAD_LETTER_QUEUE = "booking.commands.dlq"
EVENT_EXCHANGE = "booking.events"
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"

DEFAULT_PARTITIONS = 16
# Every partition queue is bound with the same weight, so hosts spread evenly.
PARTITION_BINDING_WEIGHT = "1"

# A larger body is dead-lettered unread (contract section 5).
MAX_BODY_BYTES = 64 * 1024


def partition_queue(index: int) -> str:
    return f"{COMMAND_EXCHANGE}.{index}"


def partition_key(command: dict) -> str:
    """The routing key a publisher must use: the lower-cased email for
    RegisterUser, the hostId for every other command."""
    if command.get("type") == "RegisterUser":
        return str(command["email"]).lower()
    return str(command["hostId"])

# Header the dead-letter tool sets on a message it replays to booking.commands.
REPLAYED_AT_HEADER = "x-booking-replayed-at"

# Headers that record a failure: the worker's x-booking-* and the broker's dead-letter
# bookkeeping. Dead-lettering writes them afresh and replay strips them.
FAILURE_HEADER_PREFIXES = ("x-booking-", "x-death", "x-first-death-", "x-last-death-", "x-delivery-count")


def is_failure_record(header: str) -> bool:
    return header.startswith(FAILURE_HEADER_PREFIXES)
