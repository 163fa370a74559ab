"""django_saga.conf.reference: the documentation's table of settings."""

from __future__ import annotations

from django_saga.conf import SETTINGS, reference_table
from tests.conftest import ROOT


def test_the_settings_reference_is_built_from_the_declaration():
    """The documentation's settings page gets its table from ``SETTINGS`` at build time."""
    page = (ROOT / "docs/reference/settings.md").read_text()
    assert "<!-- settings-table -->" in page
    assert "reference_table" in (ROOT / "docs/hooks.py").read_text()
    table = reference_table().splitlines()
    assert len(table) == len(SETTINGS) + 2
    for setting, row in zip(SETTINGS, table[2:], strict=True):
        assert row.startswith(f"| `{setting.name}` |") and setting.doc in row
