"""The states of a saga, the statuses of a step, and the groups other modules ask about."""

from __future__ import annotations

from django_saga.models.states import (
    ACTIVE_STATES,
    DONE,
    IN_FLIGHT,
    KEY_FREE_STATES,
    TERMINAL_STATES,
    WAITING_FOR_OPERATOR,
    SagaState,
    StepStatus,
)


def test_every_saga_state_is_active_terminal_waiting_for_an_operator_or_queued_and_one_only():
    groups = (ACTIVE_STATES, TERMINAL_STATES, WAITING_FOR_OPERATOR, (SagaState.QUEUED,))
    for state in SagaState:
        assert sum(state in group for group in groups) == 1, state
    assert sorted(s for group in groups for s in group) == sorted(SagaState)


def test_the_groups_name_the_states_the_docs_give():
    assert set(ACTIVE_STATES) == {"started", "compensating"}
    assert set(TERMINAL_STATES) == {"completed", "compensated"}
    assert set(WAITING_FOR_OPERATOR) == {"failed", "halted", "compensation_failed"}
    # A saga holds its key unless it has finished, or waits for it.
    assert set(KEY_FREE_STATES) == {"completed", "compensated", "queued"}


def test_a_step_in_flight_is_not_done_and_neither_group_holds_a_way_back():
    assert set(IN_FLIGHT) == {"started", "waiting"}
    assert set(DONE) == {"completed", "skipped"}
    assert not set(IN_FLIGHT) & set(DONE)
    going_back = {StepStatus.COMPENSATING, StepStatus.COMPENSATED, StepStatus.CANCELLED}
    assert not going_back & (set(IN_FLIGHT) | set(DONE))


def test_values_are_plain_strings_that_fit_their_column():
    for choices in (SagaState, StepStatus):
        for member in choices:
            assert member == member.value and str(member) == member.value
            assert len(member.value) <= 20  # the state and status columns' length
    assert SagaState.HALTED.label == "halted (an operator must act)"
