"""The operators' trail: how an intervention reads, and that it outlives its saga."""

from __future__ import annotations

import pytest

from django_saga.models import Intervention, Saga
from tests.factories import SagaFactory

SAGA_ID = "01J000000000000000000SAGA1"


def entry(**fields: object) -> Intervention:
    values: dict[str, object] = {"saga_id": SAGA_ID, "action": "compensate", "actor": "ann"}
    return Intervention(**{**values, **fields})


def test_str_says_what_was_done_to_which_saga_and_by_whom():
    assert str(entry()) == f"compensate of saga {SAGA_ID} by ann"
    shown = str(entry(action="retry_step", step="ship"))
    assert shown == f"retry step step 'ship' of saga {SAGA_ID} by ann"


def test_the_summary_is_the_action_its_step_and_the_reason():
    assert entry().summary() == "Compensate"
    assert entry(reason="customer cancelled").summary() == "Compensate: customer cancelled"
    retried = entry(action="retry_step", step="ship", reason="carrier up")
    assert retried.summary() == "Retry step 'ship': carrier up"
    assert entry(action="skip_step", step="ship").summary() == "Skip step 'ship'"


def test_the_summary_fits_the_admin_logs_line():
    long = entry(action="retry_compensation", reason="why " * 1000)
    assert len(long.summary()) == 2000
    assert long.summary().startswith("Retry compensation: why why")


@pytest.mark.django_db
def test_the_trail_outlives_its_saga():
    saga = SagaFactory(completed=True)
    Intervention.objects.create(saga=saga, action="compensate", actor="ann", reason="asked")
    Saga.objects.filter(pk=saga.pk).delete()
    [kept] = Intervention.objects.all()
    assert kept.saga_id == saga.pk and kept.reason == "asked"
