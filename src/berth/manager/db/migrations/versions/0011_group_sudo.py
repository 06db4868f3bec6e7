"""group sudo: whether a resource group's sessions may use ``sudo`` (root in the container)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("resource_groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allow_sudo", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("resource_groups", schema=None) as batch_op:
        batch_op.drop_column("allow_sudo")
