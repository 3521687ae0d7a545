"""Half-open UTC time ranges [start, end)."""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty range {self.start} .. {self.end}")

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: "TimeRange") -> bool:
        return self.start < other.end and other.start < self.end

    def touches(self, other: "TimeRange") -> bool:
        """Adjacent without overlapping: one ends exactly where the other starts."""
        return self.end == other.start or other.end == self.start

    def contains(self, other: "TimeRange") -> bool:
        return self.start <= other.start and other.end <= self.end

    def strictly_inside(self, instant: datetime) -> bool:
        return self.start < instant < self.end

    def hull(self, other: "TimeRange") -> "TimeRange":
        return TimeRange(min(self.start, other.start), max(self.end, other.end))
