"""django_saga.testing.database: the kit runs on test databases only."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from django_saga import clock, manager
from django_saga.models import OutboxMessage
from django_saga.testing import SagaTestKit
from tests.unit.testing.sagas import order_steps

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "test_name"),
    [
        ("shop", None),
        ("shop_test", None),
        ("shop", "test_shop"),  # a shell on the live database, tests configured
        ("/srv/shop/db.sqlite3", "/srv/shop/test-db.sqlite3"),
        ("ci_shop_backup", "ci_shop"),
    ],
)
def test_the_kit_refuses_a_database_that_is_not_a_test_database(monkeypatch, name, test_name):
    saga = manager.start("order", order_steps(fail_times=0, wait=None))
    monkeypatch.setitem(connection.settings_dict, "NAME", name)
    monkeypatch.setitem(connection.settings_dict["TEST"], "NAME", test_name)
    kit = SagaTestKit()
    with pytest.raises(ImproperlyConfigured) as refused, kit:
        kit.run()
    message = str(refused.value)
    assert f"will not run on the database 'default' (NAME {name!r}): it is not a test" in message
    assert "marks them sent" in message and "SagaTestKit(allow_any_database=True)" in message
    assert not clock.replaced()
    # The engines' messages are left to them.
    assert OutboxMessage.objects.filter(saga_id=saga.pk, sent_at__isnull=True).count() == 1
    with SagaTestKit(allow_any_database=True) as kit:
        assert kit.run() == 3
    assert not OutboxMessage.objects.filter(saga_id=saga.pk, sent_at__isnull=True).exists()


@pytest.mark.parametrize(
    ("name", "test_name", "sqlite_only"),
    [
        ("test_shop", None, False),
        ("ci_shop", "ci_shop", False),  # the runner switched to the TEST NAME
        ("ci_shop_2", "ci_shop", False),  # a parallel run's copy of it
        (":memory:", None, True),
        ("file:memorydb_default?mode=memory&cache=shared", None, True),
        ("/tmp/test_shop.sqlite3", None, True),
        ("/ci/shop_3.sqlite3", "/ci/shop.sqlite3", True),
    ],
)
def test_the_kit_runs_on_the_databases_test_runners_make(monkeypatch, name, test_name, sqlite_only):
    if sqlite_only and connection.vendor != "sqlite":
        pytest.skip("a SQLite name")
    monkeypatch.setitem(connection.settings_dict, "NAME", name)
    monkeypatch.setitem(connection.settings_dict["TEST"], "NAME", test_name)
    with SagaTestKit():
        assert clock.replaced()
