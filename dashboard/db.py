"""Database helpers shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import connections, models, router


def counter_add(model: type[models.Model], *, keys: dict[str, Any], field: str, amount: int) -> None:
    """Add `amount` to `field` in the row of `model` that `keys` name, creating the row at `amount`.

    One statement (`INSERT ... ON CONFLICT ... DO UPDATE`, on SQLite and PostgreSQL alike), so two
    requests that add the day's first amount at once cannot collide: the database serialises them on
    the unique constraint over `keys`, which the model must have.
    """
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    key_fields = [meta.get_field(name) for name in keys]
    counter = quote(meta.get_field(field).column)
    table = quote(meta.db_table)
    conflict = ", ".join(quote(f.column) for f in key_fields)
    sql = (
        f"INSERT INTO {table} ({conflict}, {counter}) VALUES ({', '.join(['%s'] * (len(keys) + 1))}) "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {counter} = {table}.{counter} + EXCLUDED.{counter}"
    )
    values = [
        f.get_db_prep_save(value, connection) for f, value in zip(key_fields, keys.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, amount])


def counter_value(model: type[models.Model], *, keys: dict[str, Any], field: str) -> int:
    """The value of `field` in the row of `model` that `keys` name, 0 if there is no such row.

    Plain SQL: pages read a counter on every request, and compiling the same query through the ORM
    costs ten times the statement itself.
    """
    meta = model._meta
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    key_fields = [meta.get_field(name) for name in keys]
    where = " AND ".join(f"{quote(f.column)} = %s" for f in key_fields)
    sql = f"SELECT {quote(meta.get_field(field).column)} FROM {quote(meta.db_table)} WHERE {where}"
    values = [
        f.get_db_prep_value(value, connection) for f, value in zip(key_fields, keys.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    return row[0] if row else 0
