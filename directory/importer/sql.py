"""Set-based SQL: chunked reads by id, COPY or multi-row INSERTs, UPDATEs joined to staged rows."""

import functools
from collections.abc import Callable, Iterable, Iterator

from django.db import connection, models

from directory import services

# Ids per `IN (...)` when reading back: under SQLite's parameter limit, small enough for any plan.
IN_CHUNK = 500


def chunks(items: Iterable, size: int) -> Iterator[list]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rows_in(queryset, column: str, ids: Iterable[int], *fields: str) -> Iterator[tuple]:
    for chunk in chunks(sorted(ids), IN_CHUNK):
        yield from queryset.filter(**{f"{column}__in": chunk}).values_list(*fields)


def ids_by_external_id(model: type[models.Model]) -> dict[str, int]:
    return dict(model.objects.exclude(external_id="").values_list("external_id", "id"))


def delete_ids(model: type[models.Model], ids: Iterable[int]) -> None:
    for chunk in chunks(sorted(ids), IN_CHUNK):
        model.objects.filter(id__in=chunk).delete()


# Values of these field types go to the driver as they are; others through get_db_prep_save.
PLAIN_TYPES = {
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "PositiveBigIntegerField",
    "SlugField",
    "TextField",
}


def _adapters(fields: list) -> list[Callable | None]:
    return [
        None
        if f.get_internal_type() in PLAIN_TYPES
        else functools.partial(f.get_db_prep_save, connection=connection)
        for f in fields
    ]


def _write_rows(cursor, table: str, columns: list[str], rows: Iterable[list]) -> None:
    """Append rows to a table: COPY on PostgreSQL (five times a multi-row INSERT), else INSERTs."""
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    if connection.vendor == "postgresql":
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    width = len(columns)
    row_sql = "(" + ", ".join(["%s"] * width) + ")"
    for chunk in chunks(rows, max(1, connection.features.max_query_params // width)):
        params = [value for row in chunk for value in row]
        cursor.execute(
            f"INSERT INTO {table} ({names}) VALUES {', '.join([row_sql] * len(chunk))}", params
        )


def insert(model: type[models.Model], rows: list[dict]) -> None:
    """INSERT rows given as {attname: value}; the other columns take the model's defaults."""
    if not rows:
        return
    with_pk = "id" in rows[0]
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    per_row = [f for f in fields if f.has_default() and callable(f.default)]  # uuid4, now
    static = {f.attname: f.get_default() for f in fields if f not in per_row}
    adapters = _adapters(fields)

    def values(row: dict) -> list:
        full = {**static, **row}
        for f in per_row:
            if f.attname not in full:
                full[f.attname] = f.default()
        return [
            adapt(full[f.attname]) if adapt else full[f.attname]
            for f, adapt in zip(fields, adapters, strict=True)
        ]

    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        _write_rows(cursor, table, [f.column for f in fields], map(values, rows))


def bulk_set(model: type[models.Model], names: list[str], rows: list[tuple]) -> None:
    """Set fields on many rows from (id, *values) tuples: one UPDATE, however many rows."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in names]
    adapters = _adapters(fields)
    staged = (
        [pk, *(a(v) if a else v for a, v in zip(adapters, values, strict=True))]
        for pk, *values in rows
    )
    qn = connection.ops.quote_name
    table, temp = qn(model._meta.db_table), qn(f"import_{model._meta.db_table}")
    columns = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields)
    assignments = ", ".join(f"{qn(f.column)} = {temp}.{qn(f.column)}" for f in fields)
    with connection.cursor() as cursor:
        # SQLite has UPDATE ... FROM since 3.33; both databases join the staged rows by id.
        cursor.execute(f"CREATE TEMPORARY TABLE {temp} (id bigint PRIMARY KEY, {columns})")
        _write_rows(cursor, temp, ["id", *(f.column for f in fields)], staged)
        cursor.execute(f"UPDATE {table} SET {assignments} FROM {temp} WHERE {table}.id = {temp}.id")
        cursor.execute(f"DROP TABLE {temp}")


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Take ids from the table's sequence (PostgreSQL), so new rows can point at each other."""
    if connection.vendor != "postgresql" or not count:
        return []
    sql = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.db_table, count])
        return [row[0] for row in cursor.fetchall()]


def lock_imports() -> None:
    # One import at a time; nesting edits wait too, since the cycle check reads the whole graph.
    # SQLite transactions already hold the single write lock from BEGIN IMMEDIATE.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x696D706F7274])
    services.nesting_lock()
