"""Operator tools for the partitions of booking.commands (`booking partitions ...`)."""
