"""The booking worker: owns every write, consumes the partition queues in order."""
