"""Users, availability windows, bookings, the inbox and the outbox.

Written by hand: Alembic does not see exclusion constraints or expression indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # btree_gist lets a GiST exclusion constraint compare uuid columns with =.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("CREATE TYPE user_role AS ENUM ('HOST', 'USER')")
    op.execute("CREATE TYPE booking_status AS ENUM ('CONFIRMED', 'CANCELLED')")
    op.execute(
        """
        CREATE TABLE users (
            id uuid PRIMARY KEY,
            name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
            email text NOT NULL,
            role user_role NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))")
    op.execute(
        """
        CREATE TABLE availability_windows (
            id uuid PRIMARY KEY,
            host_id uuid NOT NULL REFERENCES users (id),
            period tstzrange NOT NULL CHECK (NOT isempty(period) AND lower_inc(period) AND NOT upper_inc(period)),
            slot_minutes integer NOT NULL CONSTRAINT slot_minutes_range CHECK (slot_minutes BETWEEN 1 AND 1440),
            created_at timestamptz NOT NULL DEFAULT now(),
            -- merged on write, so one host's windows never overlap
            CONSTRAINT availability_windows_no_overlap EXCLUDE USING gist (host_id WITH =, period WITH &&)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE bookings (
            id uuid PRIMARY KEY,
            host_id uuid NOT NULL REFERENCES users (id),
            user_id uuid NOT NULL REFERENCES users (id),
            period tstzrange NOT NULL CHECK (NOT isempty(period) AND lower_inc(period) AND NOT upper_inc(period)),
            status booking_status NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            -- the last line against double booking, whatever the application does
            CONSTRAINT bookings_no_double_booking
                EXCLUDE USING gist (host_id WITH =, period WITH &&) WHERE (status = 'CONFIRMED')
        )
        """
    )
    op.execute("CREATE INDEX bookings_user_id_idx ON bookings (user_id)")
    op.execute(
        """
        CREATE TABLE processed_commands (
            command_id uuid PRIMARY KEY,
            command_type text NOT NULL,
            fingerprint bytea NOT NULL,
            actor_id uuid,
            reply_type text NOT NULL,
            reply bytea NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            command_id uuid NOT NULL REFERENCES processed_commands (command_id),
            reply_to text,
            correlation_id text,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX outbox_created_at_idx ON outbox (created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE outbox")
    op.execute("DROP TABLE processed_commands")
    op.execute("DROP TABLE bookings")
    op.execute("DROP TABLE availability_windows")
    op.execute("DROP TABLE users")
    op.execute("DROP TYPE booking_status")
    op.execute("DROP TYPE user_role")
