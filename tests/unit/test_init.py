"""django_saga's public names (``__init__.py``'s ``__all__``, and the test kit's):
the API reference (docs/reference/api.md) has an entry for every one.

The reference is generated from docstrings by mkdocstrings' ``::: path``
lines; a public name with no such line would be missing from the site
although ``from django_saga import ...`` offers it.
"""

from __future__ import annotations

import re
from typing import Any

import django_saga
import django_saga.testing
from tests.conftest import ROOT

API_PAGE = ROOT / "docs" / "reference" / "api.md"


def _entries() -> set[str]:
    return set(re.findall(r"^::: ([\w.]+)$", API_PAGE.read_text(), re.M))


def _covered(name: str, value: Any, entries: set[str]) -> bool:
    """An entry names it, or documents the whole module that defines it."""
    return any(
        entry.rsplit(".", 1)[-1] == name or getattr(value, "__module__", None) == entry
        for entry in entries
    )


def test_every_name_the_package_exports_has_a_reference_entry() -> None:
    entries = _entries()
    missing = [
        name
        for name in django_saga.__all__
        if not _covered(name, getattr(django_saga, name), entries)
    ]
    assert missing == [], f"no ::: entry in {API_PAGE.name} for {missing}"


def test_the_test_kit_has_a_reference_entry() -> None:
    entries = _entries()
    missing = [
        name
        for name in django_saga.testing.__all__
        if not _covered(name, getattr(django_saga.testing, name), entries)
    ]
    assert missing == [], f"no ::: entry in {API_PAGE.name} for {missing}"


def test_every_entry_names_something_that_exists() -> None:
    from importlib import import_module

    for entry in _entries():
        module, _, attribute = entry.rpartition(".")
        found: Any
        try:
            found = import_module(entry)
        except ImportError:
            found = getattr(import_module(module), attribute, None)
        assert found is not None, f"{API_PAGE.name} documents {entry}, which does not exist"
