"""storage folders: folders, folder_shares; sessions.mounts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READY_USER = sa.text("status = 'ready' AND owner_user_id IS NOT NULL")
READY_PROJECT = sa.text("status = 'ready' AND owner_project_id IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("owner_user_id", sa.String(length=36), nullable=True),
        sa.Column("owner_project_id", sa.String(length=36), nullable=True),
        sa.Column("creator_id", sa.String(length=36), nullable=False),
        sa.Column("usage_mode", sa.String(length=16), nullable=False),
        sa.Column("permission", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["creator_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["owner_project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["owner_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("folders", schema=None) as batch_op:
        batch_op.create_index("ix_folders_owner_user", ["owner_user_id"], unique=False)
        batch_op.create_index("ix_folders_owner_project", ["owner_project_id"], unique=False)
        batch_op.create_index("uq_folders_user_name", ["owner_user_id", "name"], unique=True,
                              sqlite_where=READY_USER, postgresql_where=READY_USER)
        batch_op.create_index("uq_folders_project_name", ["owner_project_id", "name"],
                              unique=True, sqlite_where=READY_PROJECT,
                              postgresql_where=READY_PROJECT)
    op.create_table(
        "folder_shares",
        sa.Column("folder_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("permission", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["folder_id"], ["folders.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("folder_id", "user_id"),
    )
    with op.batch_alter_table("folder_shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_folder_shares_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mounts", sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("mounts")
    with op.batch_alter_table("folder_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_folder_shares_user_id"))
    op.drop_table("folder_shares")
    with op.batch_alter_table("folders", schema=None) as batch_op:
        batch_op.drop_index("uq_folders_project_name")
        batch_op.drop_index("uq_folders_user_name")
        batch_op.drop_index("ix_folders_owner_project")
        batch_op.drop_index("ix_folders_owner_user")
    op.drop_table("folders")
