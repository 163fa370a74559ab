"""The settings reference of the documentation, built from the declarations
(``docs/hooks.py`` puts it in the settings page at build time)."""

from __future__ import annotations

from .declarations import SETTINGS


def reference_table() -> str:
    """The documentation's table of settings, as Markdown: one row per declared setting."""
    rows = ["| key | default | what it does |", "|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        shown_default = (
            f"`{default}`"
            if isinstance(default, str) and default
            else ('`""`' if default == "" else f"`{default!r}`")
        )
        rows.append(f"| `{setting.name}` | {shown_default} | {setting.doc} |")
    return "\n".join(rows)
