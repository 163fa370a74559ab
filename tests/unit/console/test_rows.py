"""What one row of a list or one step card shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_saga.console.rows import attention_rows, by_stage, saga_rows, step_views, trail_rows
from django_saga.models import Intervention, Saga, SagaStep
from tests.unit.console.helpers import build_saga

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def step(name: str, stage: int, **fields: object) -> SagaStep:
    return SagaStep(name=name, stage=stage, **fields)


def test_steps_are_grouped_by_stage_in_order():
    steps = [step("a", 0), step("b", 1), step("c", 1), step("d", 2)]
    assert [[s.name for s in stage] for stage in by_stage(steps)] == [["a"], ["b", "c"], ["d"]]


def test_a_parallel_stage_is_headed_by_its_size_on_every_page():
    steps = [step("a", 0), step("b", 1), step("c", 1), step("d", 2)]
    # Stage 2 has two more steps on the next page.
    cards = step_views(by_stage(steps), {0: 1, 1: 2, 2: 3})
    assert [(c.step.name, c.stage_heading, c.in_parallel) for c in cards] == [
        ("a", "", False),
        ("b", "2 steps in parallel", True),
        ("c", "", True),
        ("d", "3 steps in parallel", True),
    ]


def test_a_cards_history_takes_what_it_can_read_and_drops_the_rest():
    at = "2025-03-01T11:59:00+00:00"
    history = [
        {"kind": "execute", "attempt": 1, "outcome": "retrying", "at": at, "retry_in": 0.5},
        {"kind": "execute", "attempt": 2, "outcome": "failed", "at": "yesterday"},
        "not an entry",
    ]
    card = step_views([[step("a", 0, history=history, input={"n": 1})]], {})[0]
    assert [(e["attempt"], e["outcome"], e["at"]) for e in card.history] == [
        (1, "retrying", datetime.fromisoformat(at)),
        (2, "failed", "yesterday"),
    ]
    assert card.history[0]["retry_in"] == 0.5 and card.history[1]["error"] == ""
    assert card.input_json == '{\n  "n": 1\n}'
    assert step_views([[step("b", 0, history={"not": "a list"})]], {})[0].history == []


@pytest.mark.django_db
def test_list_rows_show_progress_and_duration_and_attention_rows_since_when():
    saga = build_saga("started")
    Saga.objects.filter(pk=saga.pk).update(
        created_at=NOW - timedelta(minutes=3), updated_at=NOW - timedelta(hours=2)
    )
    saga.refresh_from_db()
    [row] = saga_rows([saga], NOW)
    assert (row.saga, row.progress, row.duration) == (saga, "1/2 steps", "3 min")
    [waiting] = attention_rows([saga], NOW)
    assert waiting.since == "2\xa0hours ago"


def test_a_trail_row_shows_its_details_as_json():
    entry = Intervention(action="retry_step", details={"state": "halted", "input": {"ok": True}})
    [row] = trail_rows([entry])
    assert row.entry is entry
    assert row.details_json == '{\n  "input": {\n    "ok": true\n  },\n  "state": "halted"\n}'
