"""The outbox cleaner deletes by command id: without an index each clean-up read the
whole outbox, and a queue table holds many dead rows between vacuums.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX outbox_command_id_idx ON outbox (command_id)")


def downgrade() -> None:
    op.execute("DROP INDEX outbox_command_id_idx")
