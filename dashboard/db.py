"""Database helpers shared by the apps."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from django.db import connections, models, router

M = TypeVar("M", bound=models.Model)


def counter_add(model: type[models.Model], *, keys: dict[str, Any], field: str, amount: int) -> None:
    """Add `amount` to `field` in the row of `model` that `keys` name, creating the row at `amount`.

    One statement (`INSERT ... ON CONFLICT ... DO UPDATE`, on SQLite and PostgreSQL alike), so two
    requests that add the day's first amount at once cannot collide: the database serialises them on
    the unique constraint over `keys`, which the model must have.
    """
    alias = router.db_for_write(model)
    statements = _counter_statements(model, tuple(keys), field, alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(statements.add, [*statements.key_values(keys, alias), amount])


def counter_value(model: type[models.Model], *, keys: dict[str, Any], field: str) -> int:
    """The value of `field` in the row of `model` that `keys` name, 0 if there is no such row.

    Plain SQL: pages read a counter on every request, and compiling the same query through the ORM
    costs ten times the statement itself.
    """
    alias = router.db_for_read(model)
    statements = _counter_statements(model, tuple(keys), field, alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(statements.value, statements.key_values(keys, alias))
        row = cursor.fetchone()
    return row[0] if row else 0


@dataclass(frozen=True)
class _CounterStatements:
    key_fields: tuple[models.Field, ...]
    add: str
    value: str

    def key_values(self, keys: dict[str, Any], alias: str) -> list[Any]:
        connection = connections[alias]
        return [
            field.get_db_prep_value(value, connection, prepared=False)
            for field, value in zip(self.key_fields, keys.values(), strict=True)
        ]


@lru_cache
def _counter_statements(
    model: type[models.Model], key_names: tuple[str, ...], field: str, alias: str
) -> _CounterStatements:
    """The statements of `counter_add` and `counter_value`, written once per counter and database."""
    meta = model._meta
    quote = connections[alias].ops.quote_name
    key_fields = tuple(meta.get_field(name) for name in key_names)
    counter = quote(meta.get_field(field).column)
    table = quote(meta.db_table)
    columns = ", ".join(quote(f.column) for f in key_fields)
    where = " AND ".join(f"{quote(f.column)} = %s" for f in key_fields)
    placeholders = ", ".join(["%s"] * (len(key_fields) + 1))
    return _CounterStatements(
        key_fields=key_fields,
        add=(
            f"INSERT INTO {table} ({columns}, {counter}) VALUES ({placeholders}) "
            f"ON CONFLICT ({columns}) DO UPDATE SET {counter} = {table}.{counter} + EXCLUDED.{counter}"
        ),
        value=f"SELECT {counter} FROM {table} WHERE {where}",
    )


def instance_by_pk(model: type[M], pk: Any) -> M | None:
    """The `model` instance whose primary key is `pk`, or None: what `model.objects.filter(pk=pk)`
    gives (every concrete field, converted as the ORM converts it), read with one plain statement.

    For the few rows every request reads (the signed-in user, the sandbox's fault plan): compiling
    the query through the ORM costs several times the statement itself.
    """
    alias = router.db_for_read(model)
    connection = connections[alias]
    sql, attnames, converters = _instance_select(model, alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.pk.get_db_prep_value(model._meta.pk.to_python(pk), connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (col, field_converters) in zip(row, converters, strict=True):
        for convert in field_converters:
            value = convert(value, col, connection)
        values.append(value)
    return model.from_db(alias, attnames, values)


@lru_cache
def _instance_select(model: type[models.Model], alias: str) -> tuple[str, list[str], list[tuple[Any, list]]]:
    meta = model._meta
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = meta.concrete_fields
    columns = ", ".join(quote(field.column) for field in fields)
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"
    cols = [field.get_col(meta.db_table) for field in fields]
    converters = [
        (col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)) for col in cols
    ]
    return sql, [field.attname for field in fields], converters
