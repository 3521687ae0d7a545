from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from contracts.replies import REJECTION_FOR, Rejection
from services.booking.domain.rejection import Rejected
from services.booking.store import BookingStore


@dataclass
class HandlerContext:
    """What a handler may touch: the store of its unit of work, the clock and an id source."""

    store: BookingStore
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    new_id: Callable[[], UUID] = uuid4

    def reject(self, command, rejected: Rejected) -> Rejection:
        return REJECTION_FOR[command.type](
            commandId=command.command_id,
            occurredAt=self.now,
            reason=rejected.reason,
            detail=rejected.detail,
        )
