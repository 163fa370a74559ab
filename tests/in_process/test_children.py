"""Child sagas with engines running, once per store: a step whose work is a
saga of its own, the child's end settling the step, and the parent's
compensation reaching its children as their parent-close policy says."""

from __future__ import annotations

import pytest

from django_saga import (
    LimitExceeded,
    Saga,
    SagaDefinitionError,
    Step,
    child,
    each,
    manager,
    parallel,
)
from django_saga.messages import EXECUTE, StepMessage
from django_saga.processor import Processor
from django_saga.stores import get_store
from tests.conftest import wait_for
from tests.helpers import ledger, wait_terminal
from tests.testapp.sagas import Nest, ShipParcel

pytestmark = pytest.mark.django_db(transaction=True)


def _children(saga_id: str) -> list[Saga]:
    return [manager.get(c.pk) for c in manager.children(saga_id)]


def test_a_child_saga_completes_its_step_with_its_outputs(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("open", "test.record", "test.undo"),
            child("ship", ShipParcel(parcel="p1")),
            Step("close", "test.record", ""),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    (shipped,) = _children(saga.id)
    assert shipped.state == "completed"
    assert (shipped.name, shipped.key, shipped.context) == (
        "ship_parcel",
        f"{saga.id}:ship",
        {"parcel": "p1"},
    )
    assert (shipped.parent_id, shipped.parent_step_id, shipped.depth) == (
        saga.id,
        saga.step("ship").id,
        1,
    )
    assert shipped.definition == "tests.testapp.sagas.ShipParcel"
    output = saga.step("ship").output
    assert output["child"] == shipped.id
    assert output["steps"]["book"]["done"] == "book"
    # The next step waited for the child's whole saga.
    assert saga.step("close").started_at >= shipped.completed_at


def test_a_compensated_child_fails_its_step_and_the_parent_compensates(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("open", "test.record", "test.undo"),
            child("ship", ShipParcel(parcel={"label": "fail"})),
            Step("close", "test.record", ""),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    (shipped,) = _children(saga.id)
    assert shipped.state == "compensated"
    ship = saga.step("ship")
    assert ship.status == "failed"
    assert f"child saga {shipped.id} is compensated" in ship.error
    assert "card declined" in ship.error
    assert saga.step("close").status == "cancelled"
    # The child undid its own work first; then the parent its earlier step.
    # (The failed label's own write commits only where its handler's
    # transaction is not the store's.)
    effects = [e for e in ledger(saga, shipped) if e != "do:label"]
    assert effects == ["do:open", "do:book", "undo:book", "undo:open"]


def test_compensating_a_parent_undoes_its_completed_children_in_reverse(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [
            Step("open", "test.record", "test.undo"),
            each("ship", ShipParcel, over="context.parcels", max_concurrency=1),
            Step("charge", "test.record_then_fail", ""),
        ],
        {"parcels": ["a", "b", "c"]},
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    children = _children(saga.id)
    assert [c.context["parcel"] for c in children] == ["a", "b", "c"]
    assert [c.key for c in children] == [f"{saga.id}:ship[{i}]" for i in range(3)]
    assert all(c.state == "compensated" for c in children)
    items = [s for s in saga.steps if s.is_item]
    assert [s.status for s in items] == ["compensated"] * 3
    effects = ledger(saga, *children)
    # Every child's booking undone once, all before the parent's first step.
    assert sorted(e for e in effects if e == "undo:book") == ["undo:book"] * 3
    assert effects[-1] == "undo:open"
    assert effects.count("undo:open") == 1


def _shipping_while_checking(parent_close: str = "compensate") -> tuple[Saga, Saga]:
    """A parent whose child waits on its label while a sibling waits too; the
    sibling then fails for good: the parent compensates with its child running."""
    saga = manager.start(
        "order",
        [
            Step("open", "test.record", "test.undo"),
            parallel(
                child("ship", ShipParcel(parcel={"label": "wait"}), parent_close=parent_close),
                Step("check", "test.pending", ""),
            ),
        ],
    )

    def both_wait() -> Saga | None:
        found = _children(saga.id)
        label_waits = found and found[0].step("label").status == "waiting"
        check_waits = manager.get(saga.id).step("check").status == "waiting"
        return found[0] if label_waits and check_waits else None

    # The check is failed as an outside service would: once it waits for it.
    shipped = wait_for(both_wait, what="the child's label and the parent's check to wait")
    assert isinstance(shipped, Saga)
    manager.fail_step(saga.id, "check", "address refused")
    return wait_terminal(saga.id), shipped


def test_a_parent_compensated_while_its_child_runs_compensates_the_child(store, run_engine):
    run_engine()
    saga, shipped = _shipping_while_checking()
    assert saga.state == "compensated"
    shipped = manager.get(shipped.id)
    assert shipped.state == "compensated"
    assert f"its parent saga {saga.id} is compensating" in shipped.error
    assert shipped.step("label").status == "cancelled"
    assert shipped.step("book").status == "compensated"
    assert saga.step("ship").status == "compensated"
    # The child undid its booking before the parent undid its first step.
    effects = ledger(saga, shipped)
    assert sorted(effects[:-2]) == ["do:book", "do:check", "do:label", "do:open"]
    assert effects[-2:] == ["undo:book", "undo:open"]


def test_an_operator_compensating_a_parent_compensates_its_running_child(store, run_engine):
    run_engine()
    saga = manager.start("order", [child("ship", ShipParcel(parcel={"label": "wait"}))])
    wait_for(
        lambda: _children(saga.id) and _children(saga.id)[0].step("label").status == "waiting",
        what="the child's label to wait",
    )
    manager.compensate(saga.id, reason="order withdrawn")
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    (shipped,) = _children(saga.id)
    assert shipped.state == "compensated"
    assert saga.step("ship").status == "compensated"


def test_a_child_left_alone_by_its_policy_runs_on_after_its_parent_is_compensated(
    store, run_engine
):
    run_engine()
    saga, shipped = _shipping_while_checking("abandon")
    assert saga.state == "compensated"
    assert saga.step("ship").status == "cancelled"
    shipped = manager.get(shipped.id)
    assert shipped.state == "started"
    assert shipped.step("label").status == "waiting"
    # Completing it later leaves its compensated parent as it is.
    manager.complete_step(shipped.id, "label", {})
    assert wait_terminal(shipped.id).state == "completed"
    assert manager.get(saga.id).step("ship").status == "cancelled"


def test_a_completed_child_left_alone_is_not_undone(store, run_engine):
    run_engine()
    saga = manager.start(
        "order",
        [
            child("ship", ShipParcel(parcel="p"), parent_close="abandon"),
            Step("charge", "test.record_then_fail", ""),
        ],
    )
    saga = wait_terminal(saga.id)
    assert saga.state == "compensated"
    assert saga.step("ship").status == "compensated"
    (shipped,) = _children(saga.id)
    assert shipped.state == "completed"
    assert "undo:book" not in ledger(shipped)


def test_children_nest_no_deeper_than_the_setting(store, run_engine, settings):
    settings.SAGA = {**settings.SAGA, "CHILD_MAX_DEPTH": 2}
    run_engine()
    root = manager.start("nest", Nest().steps())
    root = wait_terminal(root.id)
    assert root.state == "compensated"
    first = _children(root.id)[0]
    second = _children(first.id)[0]
    assert (first.depth, second.depth) == (1, 2)
    assert not _children(second.id)
    refused = second.step("again")
    assert refused.status == "failed"
    assert LimitExceeded.__name__ in refused.error
    assert "depth 3, deeper than SAGA['CHILD_MAX_DEPTH'] (2)" in refused.error
    # Each level undid its own mark, deepest first.
    assert ledger(root, first, second) == [
        "do:mark",
        "do:mark",
        "do:mark",
        "undo:mark",
        "undo:mark",
        "undo:mark",
    ]


def test_a_start_delivered_twice_makes_one_child(store):
    saga = manager.start("order", [child("ship", ShipParcel(parcel={"label": "wait"}))])
    step = manager.get(saga.id).step("ship")
    body = StepMessage(EXECUTE, saga.id, step.id, 1).encode().encode()
    processor = Processor(get_store())
    processor.process(body)
    processor.process(body, redelivered=True)
    (shipped,) = _children(saga.id)
    assert manager.get(saga.id).step("ship").output == {"child": shipped.id}
    assert [s.status for s in shipped.steps] == ["started", "pending"]


def test_retrying_a_failed_child_step_starts_a_new_child(store, run_engine):
    run_engine()
    # Past the pivot the parent halts instead of compensating: an operator acts.
    saga = manager.start(
        "order",
        [
            Step("pay", "test.record", "", pivot=True),
            child("ship", ShipParcel(parcel={"label": "fail"}), parent_close="abandon"),
        ],
    )
    wait_for(lambda: manager.get(saga.id).state == "halted", what="the parent to halt")
    (first,) = _children(saga.id)
    assert first.state == "compensated"
    # The operator corrects the parcel: the step starts a child of its own again.
    fixed = {**manager.get(saga.id).step("ship").input, "params": {"parcel": "p2"}}
    manager.retry_step(saga.id, "ship", fixed, by="ada", reason="label printer fixed")
    saga = wait_terminal(saga.id)
    assert saga.state == "completed"
    first_again, second = _children(saga.id)
    assert first_again.id == first.id and second.context == {"parcel": "p2"}
    assert second.key == first.key == f"{saga.id}:ship"
    assert saga.step("ship").output["child"] == second.id


def test_a_child_step_after_the_pivot_must_leave_its_child_alone():
    with pytest.raises(SagaDefinitionError, match="parent_close='abandon'"):
        manager.start(
            "order", [Step("pay", "test.record", "", pivot=True), child("ship", ShipParcel)]
        )
