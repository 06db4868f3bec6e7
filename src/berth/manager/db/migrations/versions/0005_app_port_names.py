"""one name per port of an app: app_routes.port -> proxy_port, target_port -> host_port; the
apps in kernels.app_ports and images.apps say container_port (was port)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 14:10:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, key column, JSON column holding a list of apps)
APP_LISTS = (("kernels", "id", "app_ports"), ("images", "ref", "apps"))


def _rename_key(old: str, new: str) -> None:
    """Rename ``old`` to ``new`` in every app of the JSON app lists (row by row in Python:
    the same code on SQLite and PostgreSQL)."""
    conn = op.get_bind()
    for name, key, column in APP_LISTS:
        table = sa.table(name, sa.column(key, sa.String()), sa.column(column, sa.JSON()))
        for ident, apps in conn.execute(sa.select(table.c[key], table.c[column])).all():
            fixed = [_renamed(a, old, new) for a in apps or []]
            if fixed != apps:
                conn.execute(table.update().where(table.c[key] == ident).values({column: fixed}))


def _renamed(app: Any, old: str, new: str) -> Any:
    if not isinstance(app, dict) or old not in app:
        return app
    return {(new if k == old else k): v for k, v in app.items()}


def upgrade() -> None:
    with op.batch_alter_table("app_routes", schema=None) as batch_op:
        batch_op.alter_column("port", new_column_name="proxy_port")
        batch_op.alter_column("target_port", new_column_name="host_port")
    _rename_key("port", "container_port")


def downgrade() -> None:
    _rename_key("container_port", "port")
    with op.batch_alter_table("app_routes", schema=None) as batch_op:
        batch_op.alter_column("host_port", new_column_name="target_port")
        batch_op.alter_column("proxy_port", new_column_name="port")
