"""Prometheus metrics of the worker process."""

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter("booking_commands_total", "Commands handled, by type and outcome", ["type", "outcome"])
HANDLING_SECONDS = Histogram(
    "booking_command_handling_seconds",
    "From delivery to acknowledgement, by type",
    ["type"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REDELIVERIES = Counter("booking_redeliveries_total", "Deliveries the broker marked as redelivered")
DEAD_LETTERED = Counter("booking_dead_lettered_total", "Messages this worker dead-lettered, by reason", ["reason"])
PARTITIONS_OWNED = Gauge("booking_partitions_owned", "Partitions on which this process is the active consumer")
OUTBOX_BACKLOG = Gauge("booking_outbox_backlog", "Committed replies not yet confirmed by the broker")
DLQ_DEPTH = Gauge("booking_dlq_depth", "Messages in booking.commands.dlq")
RETRIES = Counter(
    "booking_handling_retries_total", "Commands handled again after a failure, by whose failure it was", ["failure"]
)
TASK_FAILURES = Counter(
    "booking_task_failures_total", "Unexpected exceptions that ended a long-lived task (restarted), by task", ["task"]
)
