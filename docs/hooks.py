"""MkDocs hooks for django-saga's documentation (``hooks:`` in mkdocs.yml).

The settings reference is not written by hand: the line
``<!-- settings-table -->`` in ``reference/settings.md`` becomes the table
that ``django_saga.conf.reference_table()`` builds from the declared settings,
so the page and the code cannot disagree. The OpenAPI page is built the same
way from ``django_saga.console.openapi.document()``, the document the console
serves: its ``<!-- openapi-endpoints -->`` line becomes a table of the
endpoints and their answers, and the site gets the document itself as
``reference/openapi.json``. The API reference's HTML is tidied of the Sphinx
markup its docstrings carry.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

MARKER = "<!-- settings-table -->"
SETTINGS_PAGE = "reference/settings.md"
API_PAGE = "reference/api.md"
OPENAPI_MARKER = "<!-- openapi-endpoints -->"
OPENAPI_PAGE = "reference/openapi.md"
OPENAPI_FILE = "reference/openapi.json"

# The checkout's root, so that ``django_saga`` imports from it even where the
# package is not installed into the environment that runs MkDocs.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put the generated tables where the settings and OpenAPI pages ask for them."""
    if page.file.src_uri == SETTINGS_PAGE:
        from django_saga.conf import reference_table

        return _replace(markdown, SETTINGS_PAGE, MARKER, reference_table)
    if page.file.src_uri == OPENAPI_PAGE:
        return _replace(markdown, OPENAPI_PAGE, OPENAPI_MARKER, _endpoints_table)
    return markdown


def _replace(markdown: str, page: str, marker: str, build: Any) -> str:
    lines = markdown.splitlines()
    if lines.count(marker) != 1:
        raise PluginError(f"{page} must hold the line {marker} exactly once")
    return "\n".join(build() if line == marker else line for line in lines) + "\n"


@cache
def _openapi() -> dict[str, Any]:
    """The console's OpenAPI document, as the package builds it (Django's defaults)."""
    import django
    from django.conf import settings

    # The document reads the models' choices: Django's app registry must be ready.
    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django_saga"],
            USE_TZ=True,
        )
        django.setup()
    from django_saga.console.openapi import document

    return document()


def on_files(files: Any, config: Any) -> Any:
    """Publish the OpenAPI document beside its page, for tools to download."""
    text = json.dumps(_openapi(), indent=2, ensure_ascii=False) + "\n"
    files.append(File.generated(config, OPENAPI_FILE, content=text))
    return files


def _endpoints_table() -> str:
    """One row per operation: method, path, what it does, and each answer with its codes."""
    document = _openapi()
    responses = document["components"]["responses"]
    rows = ["| method and path | what it does | answers |", "|---|---|---|"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            answers = []
            for status, answer in operation["responses"].items():
                if "$ref" in answer:
                    answer = responses[answer["$ref"].rsplit("/", 1)[1]]
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                codes = schema.get("properties", {}).get("error", {}).get("enum", [])
                answers.append(f"`{status}`" + (f" {', '.join(codes)}" if codes else ""))
            rows.append(
                f"| `{method.upper()} {path}` | {operation['summary']} | {'; '.join(answers)} |"
            )
    return "\n".join(rows)


# Docstrings are written for Python's help() and Sphinx: a ``:func:`` role
# and a paragraph ending ``::`` before a code block read badly as HTML.
_ROLE = re.compile(r":(?:func|class|meth|attr|exc):(<code>)")
_LITERAL = re.compile(r"::(</p>)")


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Tidy what the API reference renders from docstrings."""
    if page.file.src_uri != API_PAGE:
        return html
    return _LITERAL.sub(r":\1", _ROLE.sub(r"\1", html))
