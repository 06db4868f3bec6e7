"""app routes (the app proxy's opened apps)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_routes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("kernel_id", sa.String(length=36), nullable=False),
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("container_port", sa.Integer(), nullable=True),
        sa.Column("target_host", sa.String(length=256), nullable=False),
        sa.Column("target_port", sa.Integer(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("allowed_ips", sa.JSON(), nullable=False),
        sa.Column("app_token", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_traffic_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("port"),
    )
    with op.batch_alter_table("app_routes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_routes_session_id"), ["session_id"], unique=False)
        batch_op.create_index("uq_app_routes_session_app", ["session_id", "app"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("app_routes", schema=None) as batch_op:
        batch_op.drop_index("uq_app_routes_session_app")
        batch_op.drop_index(batch_op.f("ix_app_routes_session_id"))
    op.drop_table("app_routes")
