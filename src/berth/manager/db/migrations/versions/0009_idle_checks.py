"""idle checks: each resource group's defaults and each resource policy's overrides; the last
traffic of each session and the idle warnings already sent

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Settings both tables get (resource_policies has max_session_lifetime and idle_timeout
#: since 0007).
SHARED = ("utilization_window", "grace_period", "warn_before")


def _columns(with_durations: bool) -> list[sa.Column]:  # type: ignore[type-arg]
    names = (("max_session_lifetime", "idle_timeout") if with_durations else ()) + SHARED
    return [*(sa.Column(n, sa.Integer(), nullable=True) for n in names),
            sa.Column("utilization_thresholds", sa.JSON(none_as_null=True), nullable=True),
            sa.Column("utilization_combine", sa.String(length=3), nullable=True)]


def upgrade() -> None:
    with op.batch_alter_table("resource_groups", schema=None) as batch_op:
        for column in _columns(with_durations=True):
            batch_op.add_column(column)
    with op.batch_alter_table("resource_policies", schema=None) as batch_op:
        for column in _columns(with_durations=False):
            batch_op.add_column(column)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_activity_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("idle_warned", sa.JSON(none_as_null=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("idle_warned")
        batch_op.drop_column("last_activity_at")
    with op.batch_alter_table("resource_policies", schema=None) as batch_op:
        for column in reversed(_columns(with_durations=False)):
            batch_op.drop_column(column.name)
    with op.batch_alter_table("resource_groups", schema=None) as batch_op:
        for column in reversed(_columns(with_durations=True)):
            batch_op.drop_column(column.name)
