"""MkDocs hooks for django-saga's documentation (``hooks:`` in mkdocs.yml).

The settings reference is not written by hand: the line
``<!-- settings-table -->`` in ``reference/settings.md`` becomes the table
that ``django_saga.conf.reference_table()`` builds from the declared settings,
so the page and the code cannot disagree. The API reference's HTML is tidied
of the Sphinx markup its docstrings carry.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

MARKER = "<!-- settings-table -->"
SETTINGS_PAGE = "reference/settings.md"
API_PAGE = "reference/api.md"

# The checkout's root, so that ``django_saga`` imports from it even where the
# package is not installed into the environment that runs MkDocs.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put the generated settings table where the settings page asks for it."""
    if page.file.src_uri != SETTINGS_PAGE:
        return markdown
    lines = markdown.splitlines()
    if lines.count(MARKER) != 1:
        raise PluginError(f"{SETTINGS_PAGE} must hold the line {MARKER} exactly once")
    from django_saga.conf import reference_table

    return "\n".join(reference_table() if line == MARKER else line for line in lines) + "\n"


# Docstrings are written for Python's help() and Sphinx: a ``:func:`` role
# and a paragraph ending ``::`` before a code block read badly as HTML.
_ROLE = re.compile(r":(?:func|class|meth|attr|exc):(<code>)")
_LITERAL = re.compile(r"::(</p>)")


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Tidy what the API reference renders from docstrings."""
    if page.file.src_uri != API_PAGE:
        return html
    return _LITERAL.sub(r":\1", _ROLE.sub(r"\1", html))
