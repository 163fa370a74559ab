"""JSON columns parsed when first read, not when the row is.

The engine reads a saga's context and its steps' inputs, outputs and
histories with every message it handles; most handlers read one of them
at most, and a context may hold a list of thousands of items that every
unit of its saga would otherwise parse and hold. The engine's own reads
(``stores.tables``) leave such a column's value as its JSON text, a
``RawJSON``; the field's attribute parses it the first time it is read
and keeps the result, so the rest of the code sees the value as ever.
Reads through the ORM parse as usual.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute


class RawJSON(str):
    """A JSON column's text, not parsed yet."""

    __slots__ = ()


class LazyJSONAttribute(DeferredAttribute):
    """A ``LazyJSONField``'s attribute: parses a ``RawJSON`` value once, on read.

    A data descriptor (it sets, too), so that reads reach it although the
    value sits in the instance's ``__dict__``."""

    field: LazyJSONField

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if type(value) is RawJSON:
            value = json.loads(value, cls=self.field.decoder)
            instance.__dict__[self.field.attname] = value
        return value


class LazyJSONField(models.JSONField):
    """A ``JSONField`` whose value an engine's read may leave unparsed until used.

    It is a ``JSONField`` in the database and in migrations."""

    descriptor_class = LazyJSONAttribute

    def deconstruct(self) -> Any:
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs


def raw_json(value: Any, expression: Any, connection: Any) -> Any:
    """A converter leaving a column's JSON text as ``RawJSON`` (any other
    value, such as ``None``, as it is)."""
    return RawJSON(value) if isinstance(value, str) else value
