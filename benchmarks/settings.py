"""Settings of the benchmark project: its own PostgreSQL database and RabbitMQ names.

Engine and worker subprocesses read the same file; the benchmark hands them the
database name (``SAGA_BENCH_DB``) and the run's queue names (``SAGA_BENCH_SAGA``,
a ``SAGA`` fragment as a Python literal) through the environment.
"""

import ast
import os

SECRET_KEY = "django-saga-bench"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_saga",
    "benchmarks.apps.BenchConfig",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("SAGA_BENCH_DB", "django_saga_bench"),
        "HOST": os.environ.get("SAGA_BENCH_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("SAGA_BENCH_PG_PORT", "5432"),
        "USER": os.environ.get("SAGA_BENCH_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("SAGA_BENCH_PG_PASSWORD", ""),
        # Persistent connections, as the README asks of engines.
        "CONN_MAX_AGE": None,
        # SAGA_BENCH_PREPARED=1: psycopg binds parameters on the server and
        # prepares statements it has run five times on a connection.
        "OPTIONS": (
            {"server_side_binding": True, "prepare_threshold": 5}
            if os.environ.get("SAGA_BENCH_PREPARED") == "1"
            else {}
        ),
    }
}

SAGA: dict[str, object] = {
    "BROKER_URL": os.environ.get("SAGA_BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
}
if os.environ.get("SAGA_BENCH_SAGA"):
    SAGA.update(ast.literal_eval(os.environ["SAGA_BENCH_SAGA"]))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
