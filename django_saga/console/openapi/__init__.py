"""The OpenAPI 3.1 description of the console's JSON API and of the step-result webhook.

One document, built here and nowhere else: the console serves it
(``api/openapi.json``, to whoever may view the console), the documentation
site renders it and offers it for download (``docs/hooks.py``), and the
tests check every endpoint's real answers against it and fuzz the API from
it. The enumerations (states, statuses, actions) and the limits come from
the code that enforces them, so they cannot drift apart.

The webhook sits above the console in the package's layers, so its header
names and fields are written out here; the tests of ``blocks``
compare them with ``django_saga.webhook``.
"""

from __future__ import annotations

import copy
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .blocks import (
    API_ERRORS,
    DEFAULT_CSRF_COOKIE,
    DEFAULT_CSRF_HEADER,
    DEFAULT_SERVER,
    DEFAULT_SESSION_COOKIE,
    LABEL_PATTERN,
    OPENAPI_VERSION,
    PROSE_PATTERN,
    WEBHOOK_ERRORS,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    WEBHOOK_TOKEN_MAX_CHARS,
)
from .components import components
from .paths import paths

__all__ = [
    "API_ERRORS",
    "DEFAULT_CSRF_COOKIE",
    "DEFAULT_CSRF_HEADER",
    "DEFAULT_SERVER",
    "DEFAULT_SESSION_COOKIE",
    "LABEL_PATTERN",
    "OPENAPI_VERSION",
    "PROSE_PATTERN",
    "WEBHOOK_ERRORS",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "WEBHOOK_TOKEN_MAX_CHARS",
    "document",
]


def document(
    *,
    server: str = DEFAULT_SERVER,
    session_cookie: str = DEFAULT_SESSION_COOKIE,
    csrf_cookie: str = DEFAULT_CSRF_COOKIE,
    csrf_header: str = DEFAULT_CSRF_HEADER,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document, as a JSON-ready dict (a new one on each call).

    ``server`` is the URL prefix under which the project includes
    ``django_saga.urls``; the cookie and header names are those the project's
    session and CSRF settings use. Paths are relative to ``server``.
    """
    built = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "django-saga console API and step-result webhook",
            "version": _package_version(),
            "summary": "Read and repair sagas; report an outside service's result "
            "for a waiting step.",
            "description": _INFO.format(
                session_cookie=session_cookie, csrf_cookie=csrf_cookie, csrf_header=csrf_header
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [
            {
                "url": server,
                "description": "Where the project includes django_saga.urls.",
            }
        ],
        "tags": [
            {"name": "sagas", "description": "Read sagas: the list and one saga's status."},
            {
                "name": "actions",
                "description": "What an operator may do to one saga, recorded on its trail "
                "with who asked and why.",
            },
            {"name": "re-drives", "description": "Retry many waiting sagas at a paced rate."},
            {
                "name": "schedules",
                "description": "Sagas started at set times: read them, pause, resume or "
                "run them now.",
            },
            {
                "name": "flow",
                "description": "Limits of actions, what waits for them, and pauses of "
                "actions and saga names.",
            },
            {
                "name": "tasks",
                "description": "The tasks of task steps: a user's inbox, and claiming, "
                "releasing, delegating, completing and rejecting a task. Any active user.",
            },
            {
                "name": "webhook",
                "description": "How an outside service reports a waiting step's result.",
            },
            {"name": "document", "description": "This description."},
        ],
        "paths": paths(),
        "components": components(session_cookie, csrf_cookie, csrf_header),
    }
    # Parts of it are shared module-level tables: a caller that edits its
    # copy (to add its own endpoints, say) must not change the next one.
    return copy.deepcopy(built)


def _package_version() -> str:
    try:
        return version("django-saga")
    except PackageNotFoundError:  # imported from a checkout that is not installed
        return "unknown"


_INFO = """\
The console's JSON API lets scripts and tooling read sagas and do what an
operator does in the console: compensate a saga, retry its compensation,
retry or skip a failed step, re-drive many sagas at once, and pause, resume
or run a schedule now. The webhook lets an outside service report the
result of a step that waits for it.

**Authentication.** Every API endpoint takes either of two credentials:

- an API token, `Authorization: Bearer dsg_...` (made with
  `manage.py saga token create` or in the admin). It acts as its user and
  needs no CSRF token. A token that is malformed, unknown or revoked, or
  whose user is inactive, is answered `401 invalid_token`.
- a logged-in Django session (the `{session_cookie}` cookie). A POST then
  also needs the CSRF token: the `{csrf_cookie}` cookie, and its value in
  the `{csrf_header}` header; without them it is answered `403 csrf_failed`.

Either way the user must be allowed to view the console (staff, when
`SAGA['CONSOLE_STAFF_ONLY']`, holding `SAGA['CONSOLE_PERMISSION']`,
`django_saga.view_saga` by default), the schedules' endpoints need
`django_saga.view_schedule`, and each action needs its own permission as
well: `403 not_authenticated` without a user,
`403 permission_denied` without a permission. These checks come before
anything else, the method included.

The webhook takes neither: an HMAC signature of the body authenticates it.

**Errors.** Every refusal is a JSON object `{{"error": CODE, "message":
SENTENCE}}`, sometimes with more fields (a `409` of an action adds the
saga's `state`, a schedule's `enabled`). `message` says what was wrong in words meant for a person;
`error` is the code to branch on.

**Methods.** A method an endpoint does not take is answered
`405 method_not_allowed` with an `Allow` header (after the checks above);
HEAD is answered like GET, without a body, and OPTIONS lists the methods in
`Allow`.

**Answers that are not JSON.** A saga id, step or re-drive id that no URL
can hold (longer than its column, or holding `/` or a NUL character) matches
no route: the project's own 404 page answers it.
"""
