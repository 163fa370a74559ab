"""``manage.py saga_purge``: which finished sagas it takes, and how it says what
it did (the purge itself is tested with ``django_saga.retention``)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_saga.models import Saga
from tests.factories import SagaFactory, SagaStepFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def finished(state: str = "completed", ago: timedelta = 40 * DAY, name: str = "order") -> Saga:
    """A saga that reached ``state`` ``ago``, with one step."""
    saga = SagaFactory(name=name, state=state, completed_at=timezone.now() - ago)
    SagaStepFactory(saga=saga, completed=True)
    return saga


def purge(*args: str) -> str:
    out = io.StringIO()
    call_command("saga_purge", *args, stdout=out)
    return out.getvalue().strip()


@pytest.mark.parametrize(
    ("given", "shown"),
    [("2w", "14d"), ("36h", "36h"), ("90m", "90m"), ("5400", "90m"), ("90", "90s")],
)
def test_the_summary_names_the_age_in_its_largest_whole_unit(given, shown):
    finished(ago=40 * DAY)
    text = purge("--older-than", given, "--dry-run")
    assert text == (
        f"Would purge 1 sagas (1 steps) that finished more than {shown} ago: 1 completed."
    )


def test_each_name_given_adds_to_the_selection_and_a_state_narrows_it():
    order, refund = finished(name="order"), finished(name="refund")
    other = finished(name="invoice")
    undone = finished("compensated", name="order")
    text = purge("--older-than", "30d", "--name", "order", "--name", "refund")
    assert text.startswith("Purged 3 sagas (3 steps) that finished more than 30d ago: ")
    assert set(Saga.objects.values_list("pk", flat=True)) == {other.pk}
    assert not Saga.objects.filter(pk__in=[order.pk, refund.pk, undone.pk]).exists()

    kept, gone = finished("completed"), finished("compensated")
    purge("--older-than", "30d", "--state", "compensated")
    assert set(Saga.objects.values_list("pk", flat=True)) == {other.pk, kept.pk}
    assert not Saga.objects.filter(pk=gone.pk).exists()


def test_a_purge_with_nothing_to_do_says_so_and_names_no_state():
    finished(ago=DAY)
    assert purge("--older-than", "30d").startswith(
        "Purged 0 sagas (0 steps) that finished more than 30d ago. 0 batches in "
    )
    assert Saga.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--batch-size", "lots"), "argument --batch-size: invalid int value: 'lots'"),
        (("--state", "halted"), "argument --state: invalid choice: 'halted'"),
    ],
)
def test_arguments_it_cannot_take_are_refused_before_anything_is_deleted(args, message):
    finished()
    with pytest.raises(CommandError, match=message):
        purge("--older-than", "30d", *args)
    assert Saga.objects.count() == 1
