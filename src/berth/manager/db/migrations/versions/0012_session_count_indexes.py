"""session count indexes: the list's counts per type read covering indexes

``(status, type)`` takes the place of ``(status)`` (its prefix), and ``(owner_id, status,
type)`` serves a user's own counts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 02:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sessions_status_type", "sessions", ["status", "type"])
    op.create_index("ix_sessions_owner_status_type", "sessions",
                    ["owner_id", "status", "type"])
    op.drop_index("ix_sessions_status", table_name="sessions")


def downgrade() -> None:
    op.create_index("ix_sessions_status", "sessions", ["status"])
    op.drop_index("ix_sessions_owner_status_type", table_name="sessions")
    op.drop_index("ix_sessions_status_type", table_name="sessions")
