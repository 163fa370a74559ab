"""``DjangoUnit``: what a unit holds of its saga when it opens (its ``Hold``),
hence which unit locks the saga's row and which writes it at flush; the
progress a step makes without writing the saga; the operators' trail.

Run on SQLite and on PostgreSQL; the tests of row locks held by other
transactions on PostgreSQL only.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_saga.models import Intervention, Saga, SagaStep, StepStatus
from django_saga.stores.django import DjangoStore
from django_saga.stores.django_unit import PROGRESS_EVERY, Hold, record_interventions
from tests.factories import SagaFactory, SagaStepFactory
from tests.unit.stores.helpers import row_held

pytestmark = pytest.mark.django_db(transaction=True)


def running_step(saga: Saga, position: int, stage: int | None = None) -> SagaStep:
    """A step an engine has dispatched (its message in flight)."""
    return SagaStepFactory(
        saga=saga,
        position=position,
        stage=position if stage is None else stage,
        status=StepStatus.STARTED,
        attempts=1,
    )


def statements_in(captured: CaptureQueriesContext, verb: str) -> list[str]:
    """The captured statements that ``verb`` (``INSERT``, ``UPDATE``) rows."""
    sqls = [query["sql"] or "" for query in captured.captured_queries]
    return [sql for sql in sqls if re.search(rf"\b{verb}\b", sql, re.IGNORECASE)]


def in_another_transaction(work: Callable[[], None]) -> None:
    """Run ``work`` in a transaction of another connection (a thread's own), and
    wait for it: what another engine or an operator does meanwhile."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                work()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if failures:
        raise failures[0]


def saga_row_is_free(saga_id: str) -> bool:
    """Whether another transaction could lock the saga's row now (PostgreSQL)."""
    free: list[bool] = []

    def lock() -> None:
        try:
            list(Saga.objects.select_for_update(nowait=True).filter(pk=saga_id))
            free.append(True)
        except OperationalError:
            free.append(False)

    in_another_transaction(lock)
    return free[0]


# -- Hold.NEW: the unit creates the saga ---------------------------------------
def test_a_new_saga_is_inserted_at_flush_as_the_unit_left_it_with_no_update():
    saga = Saga(name="new", context={"n": 1})
    steps = [
        SagaStep(saga=saga, position=0, stage=0, name="a", action="test.record"),
        SagaStep(saga=saga, position=1, stage=1, name="b", action="test.record"),
    ]
    with CaptureQueriesContext(connection) as captured, DjangoStore().create(saga, steps) as unit:
        assert unit.hold is Hold.NEW
        assert unit.lock_saga() == steps  # no one else can see it yet
        saga.context = {"n": 2}
        unit.save_saga_fields(["context"])
        steps[0].status = StepStatus.STARTED
        unit.save_step(steps[0], ["status"])
        assert not Saga.objects.filter(pk=saga.pk).exists()  # nothing written yet
    stored = Saga.objects.get(pk=saga.pk)
    assert stored.context == {"n": 2}
    assert list(stored.step_set.order_by("position").values_list("name", "status")) == [
        ("a", StepStatus.STARTED),
        ("b", StepStatus.PENDING),
    ]
    assert statements_in(captured, "INSERT") and statements_in(captured, "UPDATE") == []


# -- Hold.STEP_ALONE: the step's lock holds the saga ----------------------------
def test_an_engines_step_alone_in_its_stage_holds_the_saga_and_writes_it_at_flush():
    saga = SagaFactory(context={"n": 1})
    step = running_step(saga, 0)
    later = SagaStepFactory(saga=saga, position=1)
    with DjangoStore().open_step(saga.pk, step.pk) as unit:
        assert unit is not None and unit.hold is Hold.STEP_ALONE
        with CaptureQueriesContext(connection) as captured:
            steps = unit.lock_saga()
        assert captured.captured_queries == []  # the steps read with the step's lock stand
        assert [s.pk for s in steps] == [step.pk, later.pk]
        unit.saga.context = {"n": 2}
        unit.save_saga_fields(["context"])
        assert Saga.objects.get(pk=saga.pk).context == {"n": 1}  # written at flush
    assert Saga.objects.get(pk=saga.pk).context == {"n": 2}


@pytest.mark.parametrize(
    "where",
    ["beside another step of its stage", "of a saga not started", "not the engine's"],
)
def test_a_step_holds_the_saga_alone_only_for_an_engine_alone_in_its_stage(where):
    saga = SagaFactory(state="compensating" if where == "of a saga not started" else "started")
    step = running_step(saga, 0)
    if where == "beside another step of its stage":
        running_step(saga, 1, stage=0)
    fast_path = where != "not the engine's"
    with DjangoStore().open_step(saga.pk, step.pk, fast_path=fast_path) as unit:
        assert unit is not None and unit.hold is Hold.STEP


@pytest.mark.postgres
def test_an_engines_step_alone_in_its_stage_leaves_the_saga_row_to_others():
    saga = SagaFactory()
    step = running_step(saga, 0)
    with DjangoStore().open_step(saga.pk, step.pk) as unit:
        assert unit is not None
        unit.lock_saga()
        assert saga_row_is_free(saga.pk)


# -- Hold.STEP: lock_saga() waits for the saga's row -----------------------------
def test_a_step_beside_others_locks_the_saga_and_reads_it_again_keeping_its_changes():
    saga = SagaFactory(context={"n": 1})
    step = running_step(saga, 0, stage=0)
    other = running_step(saga, 1, stage=0)
    Saga.objects.filter(pk=saga.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    with DjangoStore().open_step(saga.pk, step.pk) as unit:
        assert unit is not None and unit.hold is Hold.STEP
        assert unit.step is not None
        unit.step.output = {"mine": True}
        unit.save_step(unit.step, ["output"])
        # Rows that changed since the unit read them (by the time it holds the saga).
        Saga.objects.filter(pk=saga.pk).update(context={"n": 2})
        SagaStep.objects.filter(pk=other.pk).update(status=StepStatus.COMPLETED)
        held = unit.saga
        steps = unit.lock_saga()
        assert unit.hold is Hold.SAGA
        assert unit.saga is held and held.context == {"n": 2}  # refreshed in place
        assert timezone.now() - held.updated_at < timedelta(minutes=1)  # its progress marked
        assert steps[0] is unit.step and steps[0].output == {"mine": True}
        assert steps[1].status == StepStatus.COMPLETED
    assert SagaStep.objects.get(pk=step.pk).output == {"mine": True}


@pytest.mark.postgres
def test_a_step_beside_others_waits_for_the_saga_row_and_sees_what_its_holder_committed():
    saga = SagaFactory(context={"n": 1})
    step = running_step(saga, 0, stage=0)
    other = running_step(saga, 1, stage=0)

    def finish_other() -> None:
        SagaStep.objects.filter(pk=other.pk).update(status=StepStatus.COMPLETED)
        Saga.objects.filter(pk=saga.pk).update(context={"n": 2})

    with DjangoStore().open_step(saga.pk, step.pk) as unit:
        assert unit is not None and unit.hold is Hold.STEP
        with row_held(Saga, saga.pk, then=finish_other, release_after=0.5):
            started = time.monotonic()
            steps = unit.lock_saga()  # returns once the holder has committed
            assert time.monotonic() - started >= 0.4
        assert [s.status for s in steps] == [StepStatus.STARTED, StepStatus.COMPLETED]
        assert unit.saga.context == {"n": 2}
        assert not saga_row_is_free(saga.pk)


# -- Hold.STEP_NOWAIT: a unit of a batch never waits ----------------------------
@pytest.mark.postgres
def test_a_unit_of_a_batch_raises_rather_than_wait_for_a_held_saga_row():
    saga = SagaFactory()
    step = running_step(saga, 0, stage=0)
    running_step(saga, 1, stage=0)
    store = DjangoStore()
    opened = store.open_steps([(saga.pk, step.pk)])
    assert opened is not None
    with row_held(Saga, saga.pk), pytest.raises(OperationalError), opened as units:
        [unit] = units
        assert unit is not None and unit.hold is Hold.STEP_NOWAIT
        unit.lock_saga()
    # Once the row is free, the same unit locks it.
    opened = store.open_steps([(saga.pk, step.pk)])
    assert opened is not None
    with opened as units:
        [unit] = units
        assert unit is not None
        unit.lock_saga()
        assert unit.hold is Hold.SAGA
        assert not saga_row_is_free(saga.pk)


# -- Hold.SAGA: an operator's unit over the whole saga ---------------------------
def test_a_unit_over_the_whole_saga_holds_it_and_writes_it_at_flush():
    saga = SagaFactory(context={"n": 1})
    steps = [SagaStepFactory(saga=saga, position=n) for n in range(2)]
    with DjangoStore().open_saga(saga.pk) as unit:
        assert unit.hold is Hold.SAGA
        with CaptureQueriesContext(connection) as captured:
            assert [s.pk for s in unit.lock_saga()] == [s.pk for s in steps]
        assert captured.captured_queries == []
        unit.saga.context = {"n": 2}
        unit.save_saga_fields(["context"])
    assert Saga.objects.get(pk=saga.pk).context == {"n": 2}


# -- progress_recent ------------------------------------------------------------
def _progress_after(age: timedelta) -> bool:
    """Whether a step's progress, its saga last updated ``age`` ago, wrote the saga's row."""
    saga = SagaFactory()
    step = running_step(saga, 0)
    before = timezone.now() - age
    Saga.objects.filter(pk=saga.pk).update(updated_at=before)
    with DjangoStore().open_step(saga.pk, step.pk) as unit:
        assert unit is not None
        unit.touch()
    return Saga.objects.get(pk=saga.pk).updated_at != before


def test_a_step_that_makes_progress_within_progress_every_writes_no_saga_row():
    assert not _progress_after(timedelta(seconds=PROGRESS_EVERY / 2))


def test_progress_after_progress_every_marks_the_saga_as_moving():
    assert _progress_after(timedelta(seconds=PROGRESS_EVERY + 5))


def test_a_short_stale_after_marks_progress_sooner(settings):
    """The stale-saga sweeper must never take a saga that progresses for a stuck one."""
    settings.SAGA = {**settings.SAGA, "STALE_AFTER": 20}
    assert _progress_after(timedelta(seconds=10))
    assert not _progress_after(timedelta(seconds=2))


def test_a_changed_saga_is_written_however_recent_its_progress():
    saga = SagaFactory()
    step = running_step(saga, 0)
    with DjangoStore().open_step(saga.pk, step.pk) as unit:
        assert unit is not None
        unit.saga.error = "declined"
        unit.save_saga_fields(["error"])
    assert Saga.objects.get(pk=saga.pk).error == "declined"


# -- the operators' trail --------------------------------------------------------
def _action(saga: Saga, action: str, reason: str = "") -> Intervention:
    return Intervention(saga_id=saga.pk, action=action, step="ship", actor="ops", reason=reason)


def test_an_operators_action_is_recorded_and_logged_in_the_admin_for_the_user():
    user = User.objects.create_user("ops")
    saga = SagaFactory()
    SagaStepFactory(saga=saga, position=0, name="ship")
    store = DjangoStore()
    with store.open_saga(saga.pk) as unit:
        unit.record(_action(saga, "retry_step", "carrier back"), user)
        unit.record(_action(saga, "skip_step"), None)  # the command line's: no user
        assert not Intervention.objects.exists()  # with the unit's rows, at flush
    assert sorted(i.action for i in store.interventions(saga.pk)) == ["retry_step", "skip_step"]
    [log] = LogEntry.objects.filter(object_id=saga.pk)
    assert log.user == user and log.action_flag == CHANGE
    assert log.content_type.model_class() is Saga
    assert log.change_message == "Retry step 'ship': carrier back"


def test_an_action_whose_unit_fails_leaves_no_trail():
    user = User.objects.create_user("ops")
    saga = SagaFactory()
    SagaStepFactory(saga=saga, position=0, name="ship")
    with pytest.raises(RuntimeError), DjangoStore().open_saga(saga.pk) as unit:
        unit.record(_action(saga, "retry_step"), user)
        unit.flush()
        raise RuntimeError("the change itself failed")
    assert not Intervention.objects.exists()
    assert not LogEntry.objects.exists()


def test_without_the_admin_installed_the_trail_is_still_written(settings):
    user = User.objects.create_user("ops")
    saga = SagaFactory()
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "django.contrib.admin"]
    with transaction.atomic():
        record_interventions("default", [(_action(saga, "compensate"), user)])
    assert Intervention.objects.filter(saga_id=saga.pk, action="compensate").exists()
    assert not LogEntry.objects.exists()
