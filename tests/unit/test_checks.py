"""django_saga.checks: the settings' system checks, registered with Django."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_saga.checks import check_settings
from tests.unit.conf.helpers import saga, saga_errors


@pytest.mark.parametrize("store", ["nowhere.Store", "django_saga.stores.django.Nope", "nodots"])
def test_store_that_cannot_be_imported_is_e002(settings, store):
    saga(settings, STORE=store)
    errors = check_settings()
    assert [e.id for e in errors] == ["django_saga.E002"]
    assert errors[0].msg.startswith(f"SAGA['STORE'] = {store!r} cannot be imported")
    assert "DjangoStore" in errors[0].hint


def test_the_system_check_is_registered_with_django(settings):
    saga(settings, PREFETCH=0)
    assert [e.id for e in saga_errors()] == ["django_saga.E001"]
    with pytest.raises(SystemCheckError, match=r"SAGA\['PREFETCH'\] = 0"):
        call_command("check")
