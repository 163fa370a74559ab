"""Flow control across four saga_engine processes on RabbitMQ and PostgreSQL.

The handlers record each run's span (``tests.testapp.models.Run``: when it
began and ended, on the host every engine shares), so the limit is checked
on what the handlers themselves saw, not on django-saga's own account:

- ``test.limited`` allows 5 runs at once: 200 sagas, every one completed,
  never more than 5 spans overlapping;
- ``test.one_per_key`` allows one run at a time per saga key: the spans of
  one key never overlap, while those of different keys do;
- an engine SIGKILLed while its handlers hold every slot gives them back
  with its connection: messages held behind them run on the survivor;
- ``test.paced`` starts at most 20 runs a second: 600 take 30 s, within 10 %,
  and the engines report all 600 for its current rate;
- a paused action runs nothing while paused (its handler's records say so),
  and on resume every saga that waited completes, at the action's rate;
- sagas started with ``if_active="queue"`` run one at a time per key, in
  start order, each once;
- a high-priority saga started behind a backlog of 5,000 completes within
  5 s: its messages go to the priority queue, which engines take from first.
"""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection
from django.db.models import Sum

from django_saga import SagaDefinition, Step, manager
from django_saga.api import QUEUE
from django_saga.gauges import current_rates
from django_saga.limits import Gate
from django_saga.messages import EXECUTE
from django_saga.models import RATE_WINDOW, ActionRuns, HeldMessage, OutboxMessage, Saga
from django_saga.stores.slots import SLOTS_IN_USE
from tests.conftest import wait_for
from tests.testapp.models import Run

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.django_db(transaction=True),
]

ENGINES = 4
LIMITED = Gate(EXECUTE, "test.limited", "", 5)


def _engines(engine_process, amqp, count: int = ENGINES) -> list:
    overrides = {**amqp, "SWEEP_INTERVAL": 0.5}
    return [engine_process(overrides, "--concurrency", "4") for _ in range(count)]


def _most_at_once(runs: list[Run]) -> int:
    """The most spans that overlapped at any moment (one ending as another
    begins does not overlap)."""
    edges = sorted([(r.began, 1) for r in runs] + [(r.ended, -1) for r in runs])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def _all_finished(names: str) -> bool:
    return not Saga.objects.filter(name=names, state__in=["started", "compensating"]).exists()


def _reported(action: str) -> int:
    """The runs of ``action`` the engines' sweepers reported."""
    return ActionRuns.objects.filter(action=action).aggregate(n=Sum("runs"))["n"] or 0


def _slots_in_use() -> int:
    with connection.cursor() as cursor:
        cursor.execute(SLOTS_IN_USE, [LIMITED.slot_ids()])
        return int(cursor.fetchone()[0])


def test_five_at_a_time_across_four_engines_and_all_two_hundred_complete(amqp, engine_process):
    _engines(engine_process, amqp)
    sagas = [
        manager.start("limited", [Step("call", "test.limited", "", {"seconds": 0.05})])
        for _ in range(200)
    ]
    wait_for(lambda: _all_finished("limited"), 120, "200 limited sagas to finish")
    states = set(Saga.objects.filter(pk__in=[s.pk for s in sagas]).values_list("state", flat=True))
    assert states == {"completed"}
    runs = list(Run.objects.filter(action="test.limited"))
    assert len(runs) == 200
    assert len({r.saga_id for r in runs}) == 200  # each ran once
    most = _most_at_once(runs)
    assert most <= 5, f"{most} runs of a 5-slot action overlapped"
    # Sixteen threads had work for all of them: the limit, not a lack of
    # engines, is what held them back.
    assert most >= 2
    assert not HeldMessage.objects.exists()


def test_one_run_at_a_time_per_key(amqp, engine_process):
    _engines(engine_process, amqp)
    keys = ["customer-a", "customer-b", "customer-c"]
    started: dict[str, list[str]] = {key: [] for key in keys}
    # Sagas of different names may share a key (one active saga per name and key).
    for n in range(8):
        for key in keys:
            saga = manager.start(
                f"per-key-{n}",
                [Step("call", "test.one_per_key", "", {"seconds": 0.02})],
                key=key,
            )
            started[key].append(saga.pk)
    every = [pk for pks in started.values() for pk in pks]
    wait_for(
        lambda: not Saga.objects.filter(pk__in=every, state="started").exists(),
        120,
        "24 sagas to finish",
    )
    assert set(Saga.objects.filter(pk__in=every).values_list("state", flat=True)) == {"completed"}
    for key in keys:
        runs = list(Run.objects.filter(action="test.one_per_key", key=key).order_by("began"))
        assert len(runs) == 8
        assert _most_at_once(runs) == 1, f"two runs of {key} overlapped"
        assert {r.saga_id for r in runs} == set(started[key])
    # Keys apart did run side by side.
    assert _most_at_once(list(Run.objects.filter(action="test.one_per_key"))) >= 2


def test_a_killed_engine_gives_back_its_slots_with_its_connection(amqp, engine_process):
    overrides = {**amqp, "SWEEP_INTERVAL": 0.5}
    victim = engine_process(overrides, "--concurrency", "8")
    slow = [
        manager.start("slow", [Step("call", "test.limited", "", {"seconds": 4})]) for _ in range(5)
    ]
    wait_for(lambda: _slots_in_use() == 5, 20, "the first engine to hold all 5 slots")
    survivor = engine_process(overrides, "--concurrency", "8")
    quick = [
        manager.start("quick", [Step("call", "test.limited", "", {"seconds": 0.01})])
        for _ in range(3)
    ]
    wait_for(lambda: HeldMessage.objects.count() == 3, 20, "the quick sagas to be held")
    victim.process.send_signal(signal.SIGKILL)
    assert victim.stop() == -signal.SIGKILL
    killed = time.monotonic()
    # PostgreSQL sees the connection go and rolls its transactions back: the
    # slots are free at once, and the survivor's sweeper runs what waited.
    wait_for(lambda: _all_finished("quick"), 10, "the held sagas to run on the survivor")
    assert time.monotonic() - killed < 10
    assert not survivor.process.poll()
    # The killed engine's runs never committed: their deliveries come back
    # to the survivor, which runs them again.
    wait_for(lambda: _all_finished("slow"), 60, "the killed engine's sagas to finish")
    every = [s.pk for s in slow + quick]
    assert set(Saga.objects.filter(pk__in=every).values_list("state", flat=True)) == {"completed"}
    assert Run.objects.filter(saga_id__in=every).count() == 8


def test_a_rate_of_twenty_a_second_holds_across_four_engines(amqp, engine_process):
    _engines(engine_process, amqp)
    for _ in range(600):
        manager.start("paced", [Step("call", "test.paced", "", {"seconds": 0})])
    wait_for(lambda: _all_finished("paced"), 120, "600 paced sagas to finish")
    assert set(Saga.objects.filter(name="paced").values_list("state", flat=True)) == {"completed"}
    began = sorted(Run.objects.filter(action="test.paced").values_list("began", flat=True))
    assert len(began) == 600
    span = began[-1] - began[0]
    # 599 intervals of 50 ms: 29.95 s.
    assert 27.0 <= span <= 33.0, f"600 runs at 20/s took {span:.1f}s"
    # Nowhere faster than the rate by more than a tenth, over any 3 s.
    most = max(sum(1 for t in began[i:] if t < start + 3.0) for i, start in enumerate(began))
    assert most <= 66, f"{most} runs began within 3 s"
    # Every engine reported its runs: all 600 fall in the last minute's rate.
    wait_for(lambda: _reported("test.paced") == 600, 10, "600 runs reported by the engines")
    assert current_rates()[(EXECUTE, "test.paced")] == 600 / RATE_WINDOW


def test_a_paused_action_runs_nothing_until_resumed_then_all_complete_at_its_rate(
    amqp, engine_process
):
    _engines(engine_process, amqp)
    manager.pause(action="test.pac*", by="ada", reason="provider outage")
    sagas = [
        manager.start(
            "outage",
            [Step("a", "test.record", ""), Step("call", "test.paced", "", {"seconds": 0})],
        )
        for _ in range(100)
    ]
    wait_for(
        lambda: HeldMessage.objects.filter(paused=True).count() == 100,
        60,
        "every saga's call to be held by the pause",
    )
    time.sleep(2)  # the engines' sweepers and relays go round meanwhile
    assert not Run.objects.filter(action="test.paced").exists()
    assert not Saga.objects.filter(name="outage").exclude(state="started").exists()
    resumed = time.monotonic()
    manager.resume(action="test.pac*", by="ada", reason="provider back")
    wait_for(lambda: _all_finished("outage"), 60, "the held sagas to finish")
    took = time.monotonic() - resumed
    every = [s.pk for s in sagas]
    assert set(Saga.objects.filter(pk__in=every).values_list("state", flat=True)) == {"completed"}
    runs = list(Run.objects.filter(action="test.paced"))
    assert sorted(r.saga_id for r in runs) == sorted(every)  # each once
    # Released at 20 a second, not all at once: 99 intervals of 50 ms.
    began = sorted(r.began for r in runs)
    assert began[-1] - began[0] >= 4.5
    assert took >= 4.5
    assert not HeldMessage.objects.exists()


def test_sagas_queued_for_a_key_run_one_at_a_time_in_start_order(amqp, engine_process):
    _engines(engine_process, amqp)
    keys = ["customer-a", "customer-b", "customer-c"]
    started: dict[str, list[str]] = {key: [] for key in keys}
    for _ in range(10):
        for key in keys:
            saga = manager.start(
                "queued-order",
                [
                    Step("first", "test.timed", "", {"seconds": 0.02}),
                    Step("second", "test.timed", "", {"seconds": 0.02}),
                ],
                key=key,
                if_active=QUEUE,
            )
            started[key].append(saga.pk)
    wait_for(lambda: _all_finished("queued-order"), 120, "30 queued sagas to finish")
    assert not Saga.objects.filter(name="queued-order", state="queued").exists()
    every = [pk for pks in started.values() for pk in pks]
    assert set(Saga.objects.filter(pk__in=every).values_list("state", flat=True)) == {"completed"}
    for key in keys:
        runs = list(Run.objects.filter(action="test.timed", key=key).order_by("began"))
        assert len(runs) == 20  # two steps each, each once
        # A saga's two steps, then the next saga's: never two sagas of a key at once.
        order = [r.saga_id for r in runs]
        assert order == [pk for pk in started[key] for _ in range(2)]
        spans: dict[str, tuple[float, float]] = {}
        for r in runs:
            began, ended = spans.get(r.saga_id, (r.began, r.ended))
            spans[r.saga_id] = (min(began, r.began), max(ended, r.ended))
        assert _most_at_once([Run(began=b, ended=e) for b, e in spans.values()]) == 1


class Backlog(SagaDefinition):
    name = "backlog"

    def steps(self):
        return [Step("a", "test.timed", "", {"seconds": 0.01})]


def test_a_high_priority_saga_completes_within_5_s_behind_a_5000_saga_backlog(amqp, engine_process):
    # The backlog first, then the engines: their relays publish it at once,
    # while their workers get through it 10 ms a step.
    for chunk in range(10):
        manager.start_together([(Backlog(n=chunk * 500 + i), None, None) for i in range(500)])
    _engines(engine_process, amqp, count=2)
    # The backlog is in the broker: the relays have published it all.
    wait_for(
        lambda: not OutboxMessage.objects.filter(sent_at__isnull=True).exists(),
        60,
        "the backlog's first messages to be published",
    )
    began = time.monotonic()
    urgent = manager.start(
        "urgent-refund",
        [Step(name, "test.record", "") for name in ("check", "refund", "notify")],
        priority="high",
    )
    wait_for(lambda: Saga.objects.get(pk=urgent.pk).state == "completed", 10, "the urgent saga")
    took = time.monotonic() - began
    left = Saga.objects.filter(name="backlog").exclude(state="completed").count()
    print(f"the high-priority saga took {took:.2f}s; {left} backlog sagas left")
    assert took < 5.0, f"the high-priority saga took {took:.1f}s"
    # It did not wait for the backlog to drain.
    assert left > 1000, f"only {left} backlog sagas were left: the test proves nothing"
    assert Saga.objects.get(pk=urgent.pk).priority == 1
