"""Operator actions through the manager, with whatever arguments a caller hands over.

For every action (compensate, retry a compensation, retry or skip a step,
complete or fail a waiting step, re-drive) on sagas in each state an
operator meets, the outcome is the action done or a ``SagaError`` that says
why not, never another exception; a refusal writes nothing (no saga, step,
outbox row or trail entry changes).
"""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from django_saga import SagaError, manager
from django_saga.models import Saga
from tests.factories import SagaFactory, SagaStepFactory, halted_saga
from tests.fuzz.strategies import (
    EXAMPLES,
    anything,
    json_values,
    odd_text,
    plain_json,
    plain_text,
    reasons,
    snapshot,
)

pytestmark = pytest.mark.django_db

STATES = ("started_waiting", "failed", "halted", "compensation_failed", "completed")


def a_saga(state: str) -> Saga:
    """A saga as engines leave it in ``state``; its steps are ``reserve`` then ``pay``."""
    if state == "halted":
        return halted_saga()
    saga_state = {"started_waiting": "started"}.get(state, state)
    saga = SagaFactory(name="order", state=saga_state, error="" if state == "completed" else "x")
    SagaStepFactory(saga=saga, position=0, name="reserve", completed=True)
    pay = {
        "started_waiting": {"waiting": True},
        "failed": {"failed": True},
        "compensation_failed": {"status": "compensation_failed", "attempts": 1},
        "completed": {"completed": True},
    }[state]
    SagaStepFactory(saga=saga, position=1, name="pay", action="test.pending", **pay)
    return saga


step_names = st.sampled_from(["reserve", "pay", "ship", "nope"]) | odd_text | anything
outputs = st.none() | st.dictionaries(plain_text, plain_json, max_size=3) | json_values | anything
by = st.none() | st.sampled_from(["clerk", ""]) | odd_text | anything
attempts = st.none() | st.integers(-2, 3) | st.sampled_from([2**70, True, 1.0, "1"]) | anything
saga_refs = st.sampled_from(["the saga", "01NOTASAGA000000000000000"]) | odd_text | anything

ACTIONS = {
    "compensate": lambda ref, a: manager.compensate(ref, by=a["by"], reason=a["reason"]),
    "retry_compensation": lambda ref, a: manager.retry_compensation(
        ref, by=a["by"], reason=a["reason"]
    ),
    "retry_step": lambda ref, a: manager.retry_step(
        ref, a["step"], a["data"], by=a["by"], reason=a["reason"]
    ),
    "skip_step": lambda ref, a: manager.skip_step(
        ref, a["step"], a["data"], by=a["by"], reason=a["reason"]
    ),
    "complete_step": lambda ref, a: manager.complete_step(
        ref, a["step"], a["data"], attempt=a["attempt"], report_token=a["token"]
    ),
    "fail_step": lambda ref, a: manager.fail_step(
        ref, a["step"], a["reason"], attempt=a["attempt"], report_token=a["token"]
    ),
    "redrive": lambda ref, a: manager.redrive(
        [ref], rate=a["rate"], by=a["by"], reason=a["reason"]
    ),
}


@EXAMPLES
@given(
    state=st.sampled_from(STATES),
    action=st.sampled_from(sorted(ACTIONS)),
    ref=saga_refs,
    arguments=st.fixed_dictionaries(
        {
            "step": step_names,
            "data": outputs,
            "by": by,
            "reason": reasons,
            "attempt": attempts,
            "token": st.none() | odd_text | anything,
            "rate": st.sampled_from([1.0, 1e-15, 0, -1, 1e308]) | anything,
        }
    ),
)
def test_an_action_is_done_or_refused_with_a_saga_error_and_writes_nothing(
    state, action, ref, arguments
):
    saga = a_saga(state)
    if ref == "the saga":
        ref = saga.pk
    before = snapshot()
    try:
        ACTIONS[action](ref, arguments)
    except SagaError as refused:
        event(f"{action} on {state}: refused ({type(refused).__name__})")
        assert str(refused), "a refusal must say why"
        assert snapshot() == before, f"a refused {action} wrote something"
        return
    event(f"{action} on {state}: done")
