"""Migration operations that keep engines running on a table of millions of rows."""

from __future__ import annotations

from typing import Any

from django.db import migrations


class AddIndexOnline(migrations.AddIndex):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL, a plain ``AddIndex`` elsewhere.

    A plain index build on ten million sagas blocks every write to the table
    for the minute it takes; built concurrently, engines go on meanwhile. The
    migration holding it must say ``atomic = False``.
    """

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:  # fmt: skip
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        online = schema_editor.connection.vendor == "postgresql"
        if online and not schema_editor.connection.in_atomic_block:
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)


class ReplaceCheckOnline(migrations.AddConstraint):
    """Replace a check constraint of the same name without blocking writers.

    A plain ``ADD CONSTRAINT ... CHECK`` reads the whole table under a lock
    that blocks every write. On PostgreSQL the new check is added ``NOT
    VALID`` (instant: new rows are checked at once), then validated by a
    scan that lets engines write meanwhile. Elsewhere the old constraint is
    removed and the new one added. The migration must say ``atomic = False``,
    or the validating scan would run under the first statement's lock.
    """

    def state_forwards(self, app_label: str, state: Any) -> None:
        state.remove_constraint(app_label, self.model_name_lower, self.constraint.name)
        super().state_forwards(app_label, state)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:  # fmt: skip
        model = to_state.apps.get_model(app_label, self.model_name)
        self._replace(schema_editor, model, self._named(from_state, app_label), self.constraint)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any,
                           to_state: Any) -> None:  # fmt: skip
        model = to_state.apps.get_model(app_label, self.model_name)
        self._replace(schema_editor, model, self.constraint, self._named(to_state, app_label))

    def _named(self, state: Any, app_label: str) -> Any:
        """The constraint of this name in ``state``: the one being replaced, or restored."""
        model = state.apps.get_model(app_label, self.model_name)
        return next(c for c in model._meta.constraints if c.name == self.constraint.name)

    def _replace(self, schema_editor: Any, model: Any, old: Any, new: Any) -> None:
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            schema_editor.remove_constraint(model, old)
            schema_editor.add_constraint(model, new)
            return
        table = schema_editor.quote_name(model._meta.db_table)
        name = schema_editor.quote_name(new.name)
        add = str(new.create_sql(model, schema_editor))
        prefix = f"ALTER TABLE {table} ADD "
        assert add.startswith(prefix), add
        schema_editor.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {name}, ADD {add[len(prefix) :]} NOT VALID"
        )
        schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")

    def describe(self) -> str:
        return f"Replace constraint {self.constraint.name} on model {self.model_name}"


class AddUniqueIndexOnline(migrations.AddConstraint):
    """A partial ``UniqueConstraint`` built ``CONCURRENTLY`` on PostgreSQL.

    Django keeps a unique constraint with a condition as a unique index, and
    builds it under a lock that blocks writes while it reads the table; this
    builds the same index without that lock. The migration holding it must
    say ``atomic = False``.
    """

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:  # fmt: skip
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            schema_editor.add_constraint(model, self.constraint)
            return
        sql = str(self.constraint.create_sql(model, schema_editor))
        prefix = "CREATE UNIQUE INDEX "
        assert sql.startswith(prefix), sql
        schema_editor.execute(f"{prefix}CONCURRENTLY {sql[len(prefix) :]}")
