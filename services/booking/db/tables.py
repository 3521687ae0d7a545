"""The schema as SQLAlchemy Core tables. Migrations are hand-written in migrations/;
constraints that Alembic cannot see (exclusion, expression index) live only there."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import TSTZRANGE, UUID

metadata = MetaData()

user_role = Enum("HOST", "USER", name="user_role", create_type=False)
booking_status = Enum("CONFIRMED", "CANCELLED", name="booking_status", create_type=False)

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),  # unique on lower(email): see migrations
    Column("role", user_role, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

availability_windows = Table(
    "availability_windows",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("host_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("period", TSTZRANGE, nullable=False),
    Column("slot_minutes", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("slot_minutes BETWEEN 1 AND 1440", name="slot_minutes_range"),
)

bookings = Table(
    "bookings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("host_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("period", TSTZRANGE, nullable=False),
    Column("status", booking_status, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The inbox: one stored outcome per command id, with the exact reply bytes so a
# redelivered or replayed command is answered byte-for-byte the same.
processed_commands = Table(
    "processed_commands",
    metadata,
    Column("command_id", UUID(as_uuid=True), primary_key=True),
    Column("command_type", Text, nullable=False),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("actor_id", UUID(as_uuid=True)),
    Column("reply_type", Text, nullable=False),
    Column("reply", LargeBinary, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The outbox: replies committed but not yet confirmed by the broker.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("command_id", UUID(as_uuid=True), ForeignKey("processed_commands.command_id"), nullable=False),
    Column("reply_to", Text),
    Column("correlation_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
