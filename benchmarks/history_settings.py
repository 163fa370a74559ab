"""The benchmark settings plus the admin and the console, on the history database.

``saga_history`` fills ``django_saga_history`` (``SAGA_BENCH_DB`` names
another) with finished sagas and times the operator pages against it.
"""

import os

os.environ.setdefault("SAGA_BENCH_DB", "django_saga_history")

from benchmarks.settings import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    *INSTALLED_APPS,  # noqa: F405
]
# The test project's middleware, templates and URLs: the admin and the console.
from tests.settings import MIDDLEWARE, ROOT_URLCONF, TEMPLATES  # noqa: E402,F401

ALLOWED_HOSTS = ["testserver", "localhost"]
STATIC_URL = "static/"
