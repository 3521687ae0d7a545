"""The dead-letter tool: list, inspect, replay and purge `booking.commands.dlq`."""
