"""Request bodies the contract leaves to the gateway (the others are the contract's
own *Fields models, so the seed's bodies keep working unchanged)."""

from pydantic import field_validator

from contracts.commands import end_after_start
from contracts.time import MinuteTime
from contracts.wire import WireModel


class RescheduleRequest(WireModel):
    start_time: MinuteTime
    end_time: MinuteTime

    _end_after_start = field_validator("end_time")(end_after_start)
