"""What a start is asked, checked and laid out as rows (django_saga/starts.py):
refused in words before anything is written, and a new saga row each time
it is laid out (a start retried after a key race is a saga of its own)."""

from __future__ import annotations

import pytest

from django_saga import SagaDefinitionError, Sleep, Step, parallel
from django_saga.starts import check_start


def test_the_rows_are_the_steps_by_stage_with_their_timeouts(settings):
    settings.SAGA = {**settings.SAGA, "STEP_TIMEOUT": 45}
    start = check_start(
        "order",
        [
            Step("a", "test.record", timeout=5),
            parallel(Step("b", "test.record"), Sleep("nap", 60)),
        ],
        {"customer": "c-1"},
        None,
        "order-1",
    )
    saga, steps = start.rows()
    assert (saga.name, saga.key, saga.context) == ("order", "order-1", {"customer": "c-1"})
    laid_out = [(s.name, s.position, s.stage) for s in steps]
    assert laid_out == [("a", 0, 0), ("b", 1, 1), ("nap", 2, 1)]
    # Its own, the setting's, and none for a sleep (its time is its own).
    assert [s.timeout for s in steps] == [5.0, 45.0, None]
    assert all(s.saga is saga for s in steps)


def test_each_lay_out_is_a_new_saga():
    start = check_start("order", [Step("a", "test.record")], None, None, "")
    first, _ = start.rows()
    second, steps = start.rows()
    assert first.pk != second.pk
    assert steps[0].saga_id == second.pk


@pytest.mark.parametrize(
    ("name", "context", "key", "origin", "message"),
    [
        ("", None, "", ("", ""), "name"),
        ("order", ["not", "a", "dict"], "", ("", ""), "context must be a dict, got list"),
        ("order", {"when": object()}, "", ("", ""), "Context of saga 'order'"),
        ("order", None, "x" * 1000, ("", ""), "key"),
        ("order", None, "", ("a\nb", ""), "definition's path"),
    ],
)
def test_what_cannot_start_is_refused_naming_it(name, context, key, origin, message):
    with pytest.raises(SagaDefinitionError, match=message):
        check_start(name, [Step("a", "test.record")], context, None, key, origin=origin)


@pytest.mark.parametrize("priority", ["urgent", "", 1, None])
def test_a_priority_is_normal_or_high_and_nothing_else(priority):
    with pytest.raises(SagaDefinitionError, match="priority must be one of 'normal', 'high'"):
        check_start("order", [Step("a", "test.record", "")], None, None, "", priority=priority)


def test_a_high_priority_saga_says_so_in_its_row_and_in_every_message():
    checked = check_start("order", [Step("a", "test.record", "")], None, None, "", priority="high")
    saga, _ = checked.rows()
    assert saga.priority == 1
    assert check_start("order", [Step("a", "test.record", "")], None, None, "").priority == 0
