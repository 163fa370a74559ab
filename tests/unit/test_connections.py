"""An engine thread's database connections: kept while healthy, closed once broken."""

from __future__ import annotations

import pytest
from django.db import connection, connections

from django_saga.connections import close_broken_connections, drop_connections

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_connection_that_saw_an_error_but_answers_is_kept():
    connection.ensure_connection()
    held = connection.connection
    connection.errors_occurred = True
    close_broken_connections()
    assert connection.connection is held  # no reconnect per message
    assert connection.errors_occurred is False


def test_a_healthy_connection_is_left_alone():
    connection.ensure_connection()
    held = connection.connection
    close_broken_connections()
    assert connection.connection is held


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_closed():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    connection.errors_occurred = True  # as Django marks it after the failed query
    close_broken_connections()
    assert connection.connection is None
    with connection.cursor() as cursor:  # the next use connects afresh
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_after_a_database_error_every_connection_of_the_thread_is_dropped():
    connection.ensure_connection()
    drop_connections()
    assert connection.connection is None
    drop_connections()  # nothing open: nothing to do, no error
