"""accelerators: the devices each kernel holds; each resource group's share step and policy

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLDING = sa.text("accelerators IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("kernels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accelerators", sa.JSON(none_as_null=True),
                                      nullable=True))
    op.create_index("ix_kernels_devices", "kernels", ["agent_id"], sqlite_where=HOLDING,
                    postgresql_where=HOLDING)
    with op.batch_alter_table("resource_groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accelerator_quantum", sa.String(length=16),
                                      nullable=False, server_default="0.1"))
        batch_op.add_column(sa.Column("accelerator_policy", sa.String(length=8),
                                      nullable=False, server_default="fill"))


def downgrade() -> None:
    with op.batch_alter_table("resource_groups", schema=None) as batch_op:
        batch_op.drop_column("accelerator_policy")
        batch_op.drop_column("accelerator_quantum")
    op.drop_index("ix_kernels_devices", table_name="kernels")
    with op.batch_alter_table("kernels", schema=None) as batch_op:
        batch_op.drop_column("accelerators")
