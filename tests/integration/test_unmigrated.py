"""A forgotten ``migrate`` is named, by the system check and by the engine.

Against a database without django-saga's tables, ``check --database`` fails
with ``django_saga.E020`` and ``saga_engine`` refuses to start with exit code
5, both saying to run ``manage.py migrate``; ``migrate`` itself is not held
up by the check it is about to satisfy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import ROOT, on_postgres

pytestmark = pytest.mark.engine_process


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """The name of a database with no tables, of the suite's kind."""
    if not on_postgres():
        yield str(tmp_path / "empty.sqlite3")
        return
    import psycopg

    db = settings.DATABASES["default"]
    name = f"test_unmigrated_{uuid.uuid4().hex[:8]}"
    dsn = f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["SAGA_TEST_USE_TEST_DB"] = database
    # The engine must stop before it would reach for a broker.
    env["SAGA_TEST_OVERRIDES"] = repr({"BROKER_URL": "amqp://guest:guest@127.0.0.1:1/%2F"})
    return subprocess.run(
        [sys.executable, "-m", "django", *args, "--settings", "tests.settings"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_check_and_the_engine_refuse_a_database_without_the_tables(empty_database):
    checked = _manage(empty_database, "check", "--database", "default")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "django_saga.E020" in checked.stderr
    assert "(unapplied migrations: 0001_initial to 0" in checked.stderr
    assert "run manage.py migrate" in checked.stderr

    engine = _manage(empty_database, "saga_engine")
    assert engine.returncode == 5, engine.stdout + engine.stderr
    assert "run manage.py migrate" in engine.stderr
    assert "consuming" not in engine.stderr + engine.stdout


def test_migrate_is_not_held_up_and_a_partial_migration_is_named(empty_database):
    partial = _manage(empty_database, "migrate", "django_saga", "0006")
    assert partial.returncode == 0, partial.stdout + partial.stderr
    checked = _manage(empty_database, "check", "--database", "default")
    assert checked.returncode == 1
    named = checked.stderr.split("unapplied migrations: ", 1)[1].split(")", 1)[0]
    assert named.startswith("0007_trace_context")
    assert "0006" not in named

    full = _manage(empty_database, "migrate")
    assert full.returncode == 0, full.stdout + full.stderr
    checked = _manage(empty_database, "check", "--database", "default")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "E020" not in checked.stderr
