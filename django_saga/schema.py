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
