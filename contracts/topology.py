"""Names of the RabbitMQ topology (contract section 2) and the partition-key rule."""

COMMAND_EXCHANGE = "booking.commands"
DEAD_LETTER_EXCHANGE = "booking.dead-letter"
DEAD_LETTER_QUEUE = "booking.commands.dlq"
EVENT_EXCHANGE = "booking.events"
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"

DEFAULT_PARTITIONS = 16
# The command exchange is x-modulus-hash (the rabbitmq_sharding plugin): a key goes to
# the queue at hash(key) mod N among the bound queues, which the broker orders by
# binding key and then queue name. Every partition is bound with this one key, so the
# order is the queues' names alone and a key keeps its queue across restarts for as
# long as the set of bound queues is unchanged. Nothing else may be bound to it.
COMMAND_EXCHANGE_TYPE = "x-modulus-hash"
PARTITION_BINDING_KEY = ""
# While the partition count or the exchange changes (`booking partitions migrate`),
# the command exchange is bound to this queue alone: new commands wait in it, in
# order, until the partitions have drained.
MIGRATION_QUEUE = f"{COMMAND_EXCHANGE}.migrating"

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
