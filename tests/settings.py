"""Settings for django-saga's own test suite.

``SAGA_TEST_DB=postgres`` runs it on PostgreSQL (``SAGA_TEST_PG_*`` override
host, port, user); the default is SQLite in a file, so that an engine running
in a subprocess sees the same database.
"""

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "django-saga-tests"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_saga",
    "tests.testapp.apps.TestAppConfig",
    "tests.chaos.apps.ChaosConfig",
    # The example shop, tested with django_saga.testing as a project would.
    "example_project.shop.apps.ShopConfig",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
STATIC_URL = "static/"
LOGIN_URL = "/admin/login/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DB = os.environ.get("SAGA_TEST_DB", "sqlite")
DATABASES: dict[str, dict[str, Any]]
if DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "django_saga",
            "HOST": os.environ.get("SAGA_TEST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("SAGA_TEST_PG_PORT", "5432"),
            "USER": os.environ.get("SAGA_TEST_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("SAGA_TEST_PG_PASSWORD", ""),
            "CONN_MAX_AGE": None,
            "TEST": {"NAME": os.environ.get("SAGA_TEST_PG_NAME", "test_django_saga")},
        }
    }
elif DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / "db.sqlite3"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
            # A name of one's own lets two test runs share the checkout.
            "TEST": {
                "NAME": os.environ.get("SAGA_TEST_SQLITE_NAME", str(BASE_DIR / "test-db.sqlite3"))
            },
        }
    }
else:
    raise RuntimeError(f"SAGA_TEST_DB must be 'sqlite' or 'postgres', not {DB!r}")

SAGA: dict[str, object] = {
    "BROKER_URL": os.environ.get("SAGA_TEST_BROKER_URL", "memory://tests"),
    "RELAY_INTERVAL": 0.05,
    "PUBLISH_GRACE": 5.0,
    "SHUTDOWN_GRACE": 5.0,
    # Retries in milliseconds, not seconds: the suite waits for them for real.
    "RETRY_BACKOFF": 0.01,
    "RETRY_MAX_DELAY": 0.1,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"django_saga": {"handlers": ["console"], "level": "INFO"}},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The example shop's own settings (see example_project/settings.py).
SHOP_PAYMENT_LIMIT = 500
SHOP_PAYMENT_TIMEOUT = 300.0
SHOP_PAYMENT_CONCURRENCY = 4
# No rate in the tests: the test kit's clock stands still, and a rate's later
# turns would wait for kit.advance() (the demo's own run keeps its rate).
SHOP_PAYMENT_RATE = None
SHOP_REMINDER_AFTER = 86400.0
SHOP_PARCEL_UNITS = 2
SHOP_REPORT_CRON = "0 2 * * *"
SHOP_TIME_ZONE = "Europe/Berlin"
SHOP_REFUND_APPROVAL_ABOVE = 500
SHOP_REFUND_APPROVAL_HOURS = 4.0
SHOP_ADDRESS_CONFIRM_HOURS = 8.0

# A stand-in for a read replica: under test it is the default database, seen
# through connections of its own (tests/unit/console/test_access.py).
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}

# An engine subprocess started by the suite uses the suite's test database
# and the test's own broker names.
if os.environ.get("SAGA_TEST_USE_TEST_DB"):
    DATABASES["default"]["NAME"] = os.environ["SAGA_TEST_USE_TEST_DB"]
# The chaos suite names each engine's connections to find them in pg_stat_activity.
if os.environ.get("SAGA_TEST_APP_NAME") and DB == "postgres":
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = os.environ[
        "SAGA_TEST_APP_NAME"
    ]
# An engine subprocess behind PgBouncer (tests/integration/test_pgbouncer.py)
# may listen for NOTIFY on a direct connection (SAGA['LISTEN_DATABASE']).
if os.environ.get("SAGA_TEST_PG_LISTEN_PORT") and DB == "postgres":
    DATABASES["listen"] = {
        **DATABASES["default"],
        "PORT": os.environ["SAGA_TEST_PG_LISTEN_PORT"],
    }
if os.environ.get("SAGA_TEST_OVERRIDES"):
    import ast

    SAGA.update(ast.literal_eval(os.environ["SAGA_TEST_OVERRIDES"]))
# An engine subprocess of the tracing tests writes its spans to this file.
if os.environ.get("SAGA_TEST_OTEL_SPANS"):
    from tests.otel import install_file_exporter

    install_file_exporter(os.environ["SAGA_TEST_OTEL_SPANS"])
