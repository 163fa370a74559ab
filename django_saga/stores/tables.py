"""A model's table as the engine's hand-written SQL sees it.

Every message an engine handles locks a step, reads its saga, updates a few
rows and inserts an outbox row. Building those statements through the
QuerySet API costs more Python time than PostgreSQL spends running them, so
the Django store writes them by hand. A
``ModelTable`` gives those statements a model's quoted table and column
names, turns the rows they read into model instances with the fields' own
converters, and inserts and updates rows of the model: the values read and
written are exactly the ORM's, on every backend Django supports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from ..models.lazy_json import LazyJSONField, raw_json

M = TypeVar("M", bound=models.Model)
#: Rows per INSERT: 500 rows of 25 columns stay under SQLite's and PostgreSQL's
#: limits on parameters per statement.
INSERT_BATCH = 500
Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


class ModelTable(Generic[M]):
    """One model's table: its quoted names, the converters of its values, and
    the ``INSERT`` and ``UPDATE`` of its rows (cached per set of fields)."""

    def __init__(self, model: type[M], connection: BaseDatabaseWrapper) -> None:
        self.model = model
        self.connection = connection
        quote = connection.ops.quote_name
        self.fields = list(model._meta.concrete_fields)
        self.by_name = {f.name: f for f in self.fields} | {f.attname: f for f in self.fields}
        self.name = quote(model._meta.db_table)
        #: The columns in field order, qualified (for joins) and bare (for RETURNING).
        self.columns = ", ".join(f"{self.name}.{quote(_column(f))}" for f in self.fields)
        self.bare_columns = ", ".join(quote(_column(f)) for f in self.fields)
        self.width = len(self.fields)
        self._converters: list[tuple[int, list[Converter], Any]] = []
        for index, field in enumerate(self.fields):
            column = field.get_col(model._meta.db_table)
            # The backend's converters first, then the field's: as the ORM applies them.
            converters = connection.ops.get_db_converters(column) + (
                # Parsed when first read (see ``models.lazy_json``).
                [raw_json]
                if isinstance(field, LazyJSONField)
                else column.get_db_converters(connection)
            )
            if converters:
                self._converters.append((index, converters, column))
        self._updates: dict[tuple[str, ...], str] = {}
        self.pk_column = quote(_column(model._meta.pk))

    def column(self, name: str) -> str:
        """The quoted, qualified column of field ``name``."""
        return f"{self.name}.{self.connection.ops.quote_name(_column(self.by_name[name]))}"

    def bare_column(self, name: str) -> str:
        """The quoted column of field ``name``, unqualified (for ``SET`` and ``RETURNING``)."""
        return self.connection.ops.quote_name(_column(self.by_name[name]))

    def instance(self, row: Sequence[Any], db: str) -> M:
        """A model instance from ``self.width`` values in column order."""
        values = list(row)
        for index, converters, column in self._converters:
            value = values[index]
            for convert in converters:
                value = convert(value, column, self.connection)
            values[index] = value
        return self.model.from_db(db, [], values)

    def update_many(self, cursor: Any, objs: Sequence[M], names: Sequence[str]) -> None:
        """``UPDATE`` the fields ``names`` of each of ``objs`` (``auto_now``
        fields get the time): one statement, run for each row."""
        cursor.executemany(self.update_sql(names), [self.update_params(o, names) for o in objs])

    def update_sql(self, names: Sequence[str]) -> str:
        key = tuple(names)
        sql = self._updates.get(key)
        if sql is None:
            quote = self.connection.ops.quote_name
            fields = [self.by_name[n] for n in names]
            assignments = ", ".join(f"{quote(_column(f))} = %s" for f in fields)
            sql = self._updates[key] = (
                f"UPDATE {self.name} SET {assignments} WHERE {self.pk_column} = %s"
            )
        return sql

    def update_params(self, obj: M, names: Sequence[str]) -> list[Any]:
        fields = [self.by_name[n] for n in names]
        params = [f.get_db_prep_save(f.pre_save(obj, False), self.connection) for f in fields]
        params.append(obj.pk)
        return params

    def insert_many(self, cursor: Any, objs: Sequence[M]) -> None:
        """``INSERT`` every field of ``objs`` (``auto_now_add`` included), in one
        statement per ``INSERT_BATCH`` rows: within every backend's parameter limit."""
        for start in range(0, len(objs), INSERT_BATCH):
            batch = objs[start : start + INSERT_BATCH]
            cursor.execute(self.insert_sql(len(batch)), self.insert_params(batch))
        self.mark_saved(objs)

    def insert_sql(self, count: int) -> str:
        """``INSERT`` of ``count`` rows of every field."""
        quote = self.connection.ops.quote_name
        one = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        columns = ", ".join(quote(_column(f)) for f in self.fields)
        return f"INSERT INTO {self.name} ({columns}) VALUES " + ", ".join([one] * count)

    def insert_params(self, objs: Sequence[M]) -> list[Any]:
        return [
            f.get_db_prep_save(f.pre_save(obj, True), self.connection)
            for obj in objs
            for f in self.fields
        ]

    def mark_saved(self, objs: Sequence[M]) -> None:
        """Leave inserted instances as the ORM would after saving them."""
        for obj in objs:
            obj._state.adding = False
            obj._state.db = self.connection.alias


def _column(field: Any) -> str:
    column = field.column
    assert isinstance(column, str)
    return column
