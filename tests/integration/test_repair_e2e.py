"""Repairs past the pivot, end to end: two saga_engine processes, RabbitMQ, PostgreSQL.

A failure after the pivot is retried, then halts the saga, and nothing is
undone; an operator retries or skips the step, or re-drives many sagas at a
pace; operators racing each other, and racing engines that finish other steps
of the same saga, change each saga exactly once. Before the pivot, an
operator who asks while a compensation runs waits for it, and neither fails.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone

from django_saga import Step, manager, parallel
from django_saga.actions import progress
from django_saga.errors import InvalidStateTransition
from django_saga.models import Saga
from tests.conftest import wait_for
from tests.helpers import wait_terminal
from tests.testapp.models import Ledger

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def two_engines(amqp, engine_process):
    for _ in range(2):
        engine_process(amqp, "--concurrency", "4")


def shop(ship: Step | None = None) -> list:
    """Reserve (undoable), capture the payment (the pivot), ship, notify."""
    return [
        Step("reserve", "test.record", "test.undo"),
        Step("capture", "test.record", pivot=True),
        ship or Step("ship", "test.needs_ok"),
        Step("notify", "test.record"),
    ]


def effects(saga: Saga) -> Counter[str]:
    """The saga's local effects: how often each ``do:`` and ``undo:`` committed."""
    return Counter(
        Ledger.objects.filter(step_id__in=[s.id for s in saga.steps]).values_list(
            "action", flat=True
        )
    )


def halted(saga: Saga, timeout: float = 30) -> Saga:
    saga = wait_terminal(saga.id, timeout)
    assert saga.state == "halted", f"{saga.state}: {saga.error}"
    return saga


def at_once(*calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` in threads released together; each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "an operator's call did not return within 60s"
    return results


def winners(results: list[object]) -> list[object]:
    """The calls that changed the saga; every other one was refused for its state."""
    refused = [r for r in results if isinstance(r, InvalidStateTransition)]
    assert len(refused) + sum(isinstance(r, Saga) for r in results) == len(results), results
    return [r for r in results if isinstance(r, Saga)]


# -- one saga, one operator ---------------------------------------------------


def test_a_failure_past_the_pivot_halts_undoes_nothing_and_retry_step_completes_it(two_engines):
    saga = halted(manager.start("order", shop()))
    assert [s.status for s in saga.steps] == ["completed", "completed", "failed", "pending"]
    ship = saga.step("ship")
    assert ship.attempts == 2  # test.needs_ok's policy: two attempts
    assert [e["outcome"] for e in ship.history] == ["retrying", "failed"]
    assert saga.error.startswith("step 'ship' failed after pivot step 'capture' completed: ")
    assert effects(saga) == {"do:reserve": 1, "do:capture": 1}  # nothing undone

    manager.retry_step(saga.id, "ship", {"ok": True}, by="alice", reason="address corrected")
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "completed", saga.error
    assert saga.error == ""
    assert effects(saga) == {"do:reserve": 1, "do:capture": 1, "do:ship": 1, "do:notify": 1}
    ship = saga.step("ship")
    assert (ship.attempts, ship.input, ship.output) == (3, {"ok": True}, {"attempt": 3})
    assert [e["outcome"] for e in ship.history] == ["retrying", "failed", "resumed", "completed"]
    resumed = ship.history[2]
    assert (resumed["by"], resumed["reason"], resumed["input_changed"]) == (
        "alice",
        "address corrected",
        True,
    )
    [entry] = manager.interventions(saga.id)
    assert (entry.action, entry.step, entry.actor, entry.reason) == (
        "retry_step",
        "ship",
        "alice",
        "address corrected",
    )
    assert entry.details["state"] == "halted"
    assert (entry.details["input"], entry.details["previous_input"]) == ({"ok": True}, {})
    assert "RetryableError" in entry.details["step_error"]


def test_skip_step_completes_a_halted_saga_and_the_skipped_handler_never_runs(two_engines):
    saga = halted(manager.start("order", shop()))
    manager.skip_step(
        saga.id, "ship", {"tracking": "by hand"}, by="bob", reason="shipped from the shop"
    )
    saga = wait_terminal(saga.id, 30)
    assert saga.state == "completed", saga.error
    ship = saga.step("ship")
    assert (ship.status, ship.output, ship.attempts) == ("completed", {"tracking": "by hand"}, 2)
    # Two failed attempts, then the operator: no attempt after the skip.
    assert [(e["kind"], e["outcome"]) for e in ship.history] == [
        ("execute", "retrying"),
        ("execute", "failed"),
        ("operator", "skipped"),
    ]
    assert effects(saga) == {"do:reserve": 1, "do:capture": 1, "do:notify": 1}
    [entry] = manager.interventions(saga.id)
    assert (entry.action, entry.actor) == ("skip_step", "bob")
    assert entry.reason == "shipped from the shop"


# -- many sagas at a pace -----------------------------------------------------

SAGAS = 200
#: Sagas a second: the re-drive of 200 takes (200 - 1) / 15 = 13.3 s.
RATE = 15.0
#: Seconds between a saga's due time and its call that the rate check allows
#: beyond the relay's poll interval: the relay publishes, the broker delivers
#: to one of the engines, a worker thread locks the step and calls the
#: handler. On an idle machine this is a few milliseconds; a busy 2-core one
#: (other test runs, the engines' other threads) stalls a process now and then.
DELIVERY_SLACK = 0.5


def test_a_redrive_of_200_halted_sagas_keeps_to_its_rate_and_calls_each_once(two_engines, tmp_path):
    up = tmp_path / "service-up"  # the downstream service is down until this file exists
    started = [
        manager.start(
            "order",
            [
                Step("capture", "test.record", pivot=True),
                Step("call", "test.downstream", input={"up": str(up)}),
            ],
        )
        for _ in range(SAGAS)
    ]
    ids = [saga.id for saga in started]
    wait_for(
        lambda: Saga.objects.filter(pk__in=ids, state="halted").count() == SAGAS,
        90,
        "the 200 sagas to halt",
    )
    assert not Ledger.objects.filter(action="call:call").exists()  # no call got through
    assert Ledger.objects.filter(action__startswith="undo:").count() == 0

    up.touch()
    asked = timezone.now()
    redrive = manager.redrive(ids, rate=RATE, by="ops", reason="the downstream is back")
    assert redrive.scheduled == ids and redrive.refused == []
    # 1 / RATE between sagas, never less; more only where writing one took longer.
    assert (SAGAS - 1) / RATE <= redrive.seconds < (SAGAS - 1) / RATE + 1
    wait_for(
        lambda: Saga.objects.filter(pk__in=ids, state="completed").count() == SAGAS,
        redrive.seconds + 60,
        "the re-driven sagas to complete",
    )
    assert progress(redrive.batch) == {"completed": SAGAS}

    calls = list(
        Ledger.objects.filter(action="call:call")
        .order_by("created_at")
        .values_list("step_id", "created_at")
    )
    # Each saga's call exactly once, and its pivot's effect never undone or repeated.
    call_steps = {saga.id: saga.step("call").id for saga in (manager.get(i) for i in ids)}
    assert Counter(step_id for step_id, _ in calls) == Counter(call_steps.values())
    assert Ledger.objects.filter(action="do:capture").count() == SAGAS
    assert not Ledger.objects.filter(action__startswith="undo:").exists()

    # Saga i is due at least i / RATE seconds after ``asked`` (1 / RATE after
    # the saga before it), and it is called once a relay publishes it: the
    # relay that listens for notifications learns each due time from the
    # saga's notification and wakes then; the others find the rows at their
    # next pass, at most RELAY_INTERVAL later. The call follows within
    # DELIVERY_SLACK. A call that falls in
    # a 1 s window was due within 1 + RELAY_INTERVAL + DELIVERY_SLACK seconds
    # before the window's end; due times at least 1 / RATE apart put at most
    # ceil(RATE * that span) sagas there. The tolerance over ceil(RATE * 1 s)
    # is then ceil(RATE * (RELAY_INTERVAL + DELIVERY_SLACK)) = 9 at 15 a
    # second; sending all 200 at once would put 200 in one window.
    relay_interval = float(django_settings.SAGA["RELAY_INTERVAL"])
    lag = relay_interval + DELIVERY_SLACK
    limit = math.ceil(RATE * 1.0) + math.ceil(RATE * lag)
    times = [at for _, at in calls]
    second = timedelta(seconds=1)
    busiest = max(sum(1 for t in times[i:] if t < start + second) for i, start in enumerate(times))
    span = (times[-1] - times[0]).total_seconds()
    assert busiest <= limit, f"{busiest} calls in one second, over {limit}: the rate was not kept"
    # The last saga was not due before (SAGAS - 1) / RATE seconds had passed.
    assert (times[-1] - asked).total_seconds() >= (SAGAS - 1) / RATE
    assert span >= (SAGAS - 1) / RATE - lag, f"the calls took {span:.1f}s"
    # How late each call came after the earliest its saga could be due, for the record.
    called = dict(calls)
    late = [
        (called[call_steps[saga_id]] - asked).total_seconds() - i / RATE
        for i, saga_id in enumerate(ids)
    ]
    print(
        f"re-drive of {SAGAS} at {RATE:g}/s: busiest second {busiest} (at most {limit}), "
        f"calls over {span:.1f}s, each {min(late):.3f}-{max(late):.3f}s after its earliest"
    )


# -- operators racing each other and the engines ------------------------------


def test_four_operators_retrying_one_halted_saga_at_once_change_it_once(two_engines):
    sagas = [halted(manager.start("order", shop())) for _ in range(5)]
    for saga in sagas:
        results = at_once(
            *(
                lambda n=n, saga=saga: manager.retry_step(
                    saga.id, "ship", {"ok": True}, by=f"operator-{n}", reason="service back"
                )
                for n in range(4)
            )
        )
        assert len(winners(results)) == 1, results
        refused = [str(r) for r in results if isinstance(r, InvalidStateTransition)]
        assert all("only a failed step can be retried" in text for text in refused), refused
    for saga in sagas:
        saga = wait_terminal(saga.id, 30)
        assert saga.state == "completed", saga.error
        assert effects(saga) == {"do:reserve": 1, "do:capture": 1, "do:ship": 1, "do:notify": 1}
        assert saga.step("ship").attempts == 3
        assert [e.action for e in manager.interventions(saga.id)] == ["retry_step"]


def test_skip_step_and_retry_step_racing_on_one_step_change_it_once(two_engines):
    sagas = [halted(manager.start("order", shop())) for _ in range(6)]
    won: Counter[str] = Counter()
    for saga in sagas:
        results = at_once(
            lambda saga=saga: manager.skip_step(
                saga.id, "ship", {"by": "hand"}, by="skipper", reason="by hand"
            ),
            lambda saga=saga: manager.retry_step(
                saga.id, "ship", {"ok": True}, by="retrier", reason="fixed"
            ),
            lambda saga=saga: manager.skip_step(
                saga.id, "ship", {"by": "hand"}, by="skipper", reason="by hand"
            ),
            lambda saga=saga: manager.retry_step(
                saga.id, "ship", {"ok": True}, by="retrier", reason="fixed"
            ),
        )
        assert len(winners(results)) == 1, results
    for saga in sagas:
        saga = wait_terminal(saga.id, 30)
        assert saga.state == "completed", saga.error
        [entry] = manager.interventions(saga.id)
        won[entry.action] += 1
        ship = saga.step("ship")
        if entry.action == "skip_step":
            # The step's handler never ran again: no effect, no attempt after the skip.
            assert (ship.output, ship.attempts) == ({"by": "hand"}, 2)
            assert effects(saga) == {"do:reserve": 1, "do:capture": 1, "do:notify": 1}
        else:
            assert (ship.output, ship.attempts) == ({"attempt": 3}, 3)
            assert effects(saga) == {
                "do:reserve": 1,
                "do:capture": 1,
                "do:ship": 1,
                "do:notify": 1,
            }
    assert sum(won.values()) == len(sagas)


def test_a_retry_races_the_engines_finishing_a_sibling_past_the_pivot(two_engines):
    """Ship fails (twice, quickly) while its sibling pack still sleeps in its
    handler, in the other engine or the same one; the operator retries ship as
    soon as the saga halts, so the retry waits for pack's row, lands just
    before or just after pack's result, or finds pack done."""
    sleeps = [0.0, 0.1, 0.3, 0.6, 1.0, 1.5]
    sagas = [
        manager.start(
            "order",
            [
                Step("reserve", "test.record", "test.undo"),
                Step("capture", "test.record", pivot=True),
                parallel(
                    Step("ship", "test.needs_ok"),
                    Step("pack", "test.sleep", input={"seconds": seconds}),
                ),
                Step("notify", "test.record"),
            ],
        )
        for seconds in sleeps
    ]

    def repair(saga: Saga) -> Saga:
        wait_for(lambda: manager.get(saga.id).state == "halted", 30, f"saga {saga.id} to halt")
        return manager.retry_step(saga.id, "ship", {"ok": True}, by="ops", reason="race")

    results = at_once(*(lambda saga=saga: repair(saga) for saga in sagas))
    assert all(isinstance(result, Saga) for result in results), results
    for saga in sagas:
        saga = wait_terminal(saga.id, 30)
        assert saga.state == "completed", saga.error
        assert effects(saga) == {
            "do:reserve": 1,
            "do:capture": 1,
            "do:ship": 1,
            "do:pack": 1,
            "do:notify": 1,
        }
        # The stage after ship and pack was dispatched once, whichever finished last.
        assert [s.attempts for s in saga.steps] == [1, 1, 3, 1, 1]


def test_two_operators_retrying_both_failed_siblings_at_once_resume_the_saga_once(
    two_engines,
):
    """Both steps of a stage past the pivot fail; two operators retry one each
    and a third retries the first again, all at once. The saga goes forward
    only once neither is failed, and the next stage is dispatched once."""
    sagas = [
        manager.start(
            "order",
            [
                Step("capture", "test.record", pivot=True),
                parallel(Step("left", "test.needs_ok"), Step("right", "test.needs_ok")),
                Step("notify", "test.record"),
            ],
        )
        for _ in range(5)
    ]
    for saga in sagas:
        wait_for(
            lambda saga=saga: (
                [s.status for s in manager.get(saga.id).steps]
                == ["completed", "failed", "failed", "pending"]
            ),
            30,
            f"both siblings of saga {saga.id} to fail",
        )
        assert manager.get(saga.id).state == "halted"
        results = at_once(
            lambda saga=saga: manager.retry_step(
                saga.id, "left", {"ok": True}, by="one", reason="fixed"
            ),
            lambda saga=saga: manager.retry_step(
                saga.id, "right", {"ok": True}, by="two", reason="fixed"
            ),
            lambda saga=saga: manager.retry_step(
                saga.id, "left", {"ok": True}, by="three", reason="fixed"
            ),
        )
        assert len(winners(results)) == 2, results
    for saga in sagas:
        saga = wait_terminal(saga.id, 30)
        assert saga.state == "completed", saga.error
        assert effects(saga) == {"do:capture": 1, "do:left": 1, "do:right": 1, "do:notify": 1}
        assert [s.attempts for s in saga.steps] == [1, 3, 3, 1]
        assert sorted(e.step for e in manager.interventions(saga.id)) == ["left", "right"]


# -- before the pivot: an operator while a compensation runs ------------------


def test_compensate_asked_while_a_compensation_runs_waits_for_it(two_engines, tmp_path):
    """The engine compensating b holds b's row, then writes a's (its compensation
    is next); the operator takes a's row, then waits for b's. PostgreSQL
    breaks that deadlock by failing one of them, and the one it fails tries again."""
    for n in range(3):
        started = tmp_path / f"undo-started-{n}"
        saga = manager.start(
            "order",
            [
                Step("a", "test.record", "test.undo"),
                Step("b", "test.record", "test.undo_slowly", {"started": str(started)}),
                Step("c", "test.fail"),
            ],
        )
        wait_for(started.exists, 30, "b's compensation to start")
        # Again, while under way: changes nothing and records nothing. The call
        # that loses the deadlock tries again, and by then the compensation may
        # have finished: it is then refused as already compensated.
        try:
            again = manager.compensate(saga.id, by="ops", reason="twice")
        except InvalidStateTransition as refused:
            assert str(refused) == f"Saga {saga.id} is already compensated"
        else:
            assert again.state in ("compensating", "compensated")
        saga = wait_terminal(saga.id, 30)
        assert saga.state == "compensated", saga.error
        assert effects(saga) == {"do:a": 1, "do:b": 1, "undo:b": 1, "undo:a": 1}
        assert manager.interventions(saga.id) == []
