"""Database triggers that make tables append-only (refuse UPDATE and DELETE) on both databases.

They are (re)created after every migrate (post_migrate, wired in apps.py). Only the test
flush may lift them, and only when settings.AUDIT_LOG_FLUSHABLE is on (see the flush command).
"""

from django.db import connections

_tables: list[str] = []


def register_append_only(table: str) -> None:
    if table not in _tables:
        _tables.append(table)


def append_only_tables() -> list[str]:
    return list(_tables)


def _postgres_sql(table: str) -> list[str]:
    function = f"{table}_append_only"
    return [
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$""",
        f"DROP TRIGGER IF EXISTS {function} ON {table}",
        f"""CREATE TRIGGER {function} BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {function}()""",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
    ]


def _sqlite_sql(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"""
        for op in ("UPDATE", "DELETE")
    ]


def create_triggers(using: str = "default") -> None:
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in _tables:
            if table not in existing:
                continue
            statements = (
                _postgres_sql(table) if connection.vendor == "postgresql" else _sqlite_sql(table)
            )
            for statement in statements:
                cursor.execute(statement)


def drop_triggers(using: str = "default") -> None:
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in _tables:
            if table not in existing:
                continue
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def recreate_after_migrate(sender, using="default", **kwargs) -> None:
    create_triggers(using)
