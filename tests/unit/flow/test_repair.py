"""An operator's repairs: a failed step run again or skipped, then forward again."""

from __future__ import annotations

from django_saga import flow
from django_saga.messages import EXECUTE
from django_saga.models import SagaState, StepStatus

from .helpers import build, run_to_completed, sent, statuses, unit_for


def failed_saga(*stages: tuple[str, ...]):
    """A saga whose step 'b' failed for good, waiting for an operator."""
    saga = build(*stages)
    flow.start(unit_for(saga))
    run_to_completed(saga, "a")
    unit = unit_for(saga, "b")
    flow.step_failed(unit, unit.step, "ValueError: declined", 1)
    assert saga.state == SagaState.FAILED
    return saga


def test_a_retried_step_runs_again_with_new_input_and_the_saga_goes_forward(settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = failed_saga(("a",), ("b",), ("c",))
    unit = unit_for(saga, "b")
    flow.retry_step(unit, unit.step, {"card": "new"}, note={"by": "ada"})
    assert sent(unit) == [(EXECUTE, "b", 2)]
    b = saga.step("b")
    assert b.status == StepStatus.STARTED and b.input == {"card": "new"}
    assert saga.state == SagaState.STARTED and saga.error == ""
    entry = b.history[-1]
    assert entry["outcome"] == flow.RESUMED and entry["input_changed"] is True
    assert entry["by"] == "ada"


def test_a_retry_with_a_delay_sends_the_attempt_later(settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = failed_saga(("a",), ("b",))
    unit = unit_for(saga, "b")
    flow.retry_step(unit, unit.step, None, delay=30.0)
    assert [delay for _, delay in unit.delayed] == [30.0]
    assert "input_changed" not in saga.step("b").history[-1]


def test_a_skipped_step_completes_with_the_given_output_and_the_next_stage_runs(settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = failed_saga(("a",), ("b",), ("c",))
    unit = unit_for(saga, "b")
    flow.skip_step(unit, unit.step, {"paid": "by hand"}, note={"reason": "paid at the desk"})
    b = saga.step("b")
    assert b.status == StepStatus.COMPLETED and b.output == {"paid": "by hand"}
    assert b.history[-1]["kind"] == flow.OPERATOR
    assert b.history[-1]["reason"] == "paid at the desk"
    assert sent(unit) == [(EXECUTE, "c", 1)]
    # Skipped by hand, it still counts as done: undone if the saga is later.
    assert flow.to_undo(b)


def test_the_saga_stays_put_while_another_step_is_still_failed(settings):
    settings.SAGA = {**settings.SAGA, "AUTO_COMPENSATE": False}
    saga = build(("a",), ("b", "c"))
    flow.start(unit_for(saga))
    run_to_completed(saga, "a")
    for name in ("b", "c"):
        unit = unit_for(saga, name)
        flow.step_failed(unit, unit.step, "boom", 1)
    unit = unit_for(saga, "b")
    flow.skip_step(unit, unit.step, {})
    assert saga.state == SagaState.FAILED
    assert statuses(saga) == {"a": "completed", "b": "completed", "c": "failed"}
    assert sent(unit) == []
