"""Fault injection end to end: engines killed, broker restarted, connections cut.

Small runs of ``tests/chaos/scenario.py``: every kind of saga with every
fault, and the forward kind alone (failures past a pivot, halts repaired by
operators) with engines killed; ``manage.py saga_chaos`` runs the same
scenario at any size (see ``tests/chaos/README.md``).

The run restarts the local RabbitMQ node with ``rabbitmqctl``, which drops
every connection on it; ``SAGA_CHAOS_NO_BROKER_RESTART=1`` leaves that fault
out (on a broker other test runs share at the same moment).
"""

from __future__ import annotations

import os
import shutil

import pytest

from django_saga.models import Saga, SagaStep
from tests.chaos.keyed import Run, check_keyed
from tests.chaos.models import Effect
from tests.chaos.plans import CHILD, FORWARD, KEYED, MAP, REDRIVE, RETRY_STEP
from tests.chaos.scenario import ChaosConfig, Scenario

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.engine_process,
    pytest.mark.chaos,
    pytest.mark.django_db(transaction=True),
]


def _broker_restart() -> bool:
    if os.environ.get("SAGA_CHAOS_NO_BROKER_RESTART"):
        return False
    if shutil.which("rabbitmqctl") is None:
        message = "rabbitmqctl is not on the PATH: the chaos run cannot restart RabbitMQ"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return True


def test_every_saga_ends_with_each_effect_exactly_once_despite_faults(amqp, tmp_path):
    """54 sagas (six of each kind), 2 engines, each kind of fault at least once:
    nothing lost or doubled, child sagas included."""
    broker_restart = _broker_restart()
    config = ChaosConfig(
        sagas=54,
        engines=2,
        seed=7,
        kills=3,
        broker_restart=broker_restart,
        db_kills=2,
        duplicates=4,
        poison=3,
        start_window=20,
        timeout=90,
        log_dir=tmp_path,
    )
    result = Scenario(config, amqp).run()
    report = f"{result.summary()}\n{result.details()}"
    print(report)
    for fault in ("engine_kill", "db_terminate", "duplicate_burst"):
        assert result.faults[fault] >= 1, f"no {fault} was injected\n{report}"
    assert result.faults["broker_restart"] == int(broker_restart), report
    assert result.faults["poison_message"] == 3, report
    assert result.sagas == 54 and result.failed_starts == 0, report
    assert result.stuck == 0, report
    assert result.lost == 0, report
    assert result.duplicated_effects == 0, report
    assert result.phantom_effects == 0, report
    assert result.wrong_outcome == 0, report
    assert result.dead_letters_exact, report
    forward = result.kinds[FORWARD]
    assert forward["sagas"] == 6 and forward["undone_past_pivot"] == 0, report
    assert result.kinds[MAP]["sagas"] == 6, report
    # Each child saga was checked as its parent's steps are: one per child step.
    assert result.kinds[CHILD]["sagas"] == 6 and result.kinds[CHILD]["children"] >= 18, report
    keyed = result.kinds[KEYED]
    assert keyed["sagas"] == 6 and keyed["overlapping"] == keyed["out_of_order"] == 0, report
    assert result.repairs["errors"] == 0, report
    assert result.ok, report


def test_sagas_of_a_key_run_one_at_a_time_in_start_order_despite_faults(amqp, tmp_path):
    """36 sagas over 4 keys, started with if_active="queue", their steps limited
    to one run at a time per key; 2 engines SIGKILLed and cut off from
    PostgreSQL, step messages published again: every saga ends as planned with
    each effect once, no two runs of a key overlap, and each key's sagas ran
    one after another in the order they were started."""
    config = ChaosConfig(
        sagas=36,
        engines=2,
        seed=5,
        kinds=(KEYED,),
        kills=3,
        broker_restart=False,
        db_kills=2,
        duplicates=4,
        poison=0,
        start_window=8,
        timeout=120,
        log_dir=tmp_path,
    )
    result = Scenario(config, amqp).run()
    report = f"{result.summary()}\n{result.details()}"
    print(report)
    assert result.faults["engine_kill"] == 3 and result.faults["db_terminate"] == 2, report
    assert result.sagas == 36 and result.failed_starts == 0, report
    keyed = result.kinds[KEYED]
    assert keyed["sagas"] == 36 and keyed["keys"] == 4, report
    # Most waited in their key's queue: the order check is not vacuous.
    assert keyed["queued"] >= 12, report
    assert keyed["overlapping"] == 0, report
    assert keyed["out_of_order"] == 0, report
    assert (result.lost, result.duplicated_effects, result.phantom_effects) == (0, 0, 0), report
    assert result.stuck == 0 and result.wrong_outcome == 0, report
    assert result.ok, report


def test_the_keyed_checks_catch_overlapping_runs_and_sagas_out_of_start_order():
    started = [("a", "k1"), ("b", "k1"), ("c", "k2")]
    in_turn = [
        Run("a", "a0", "k1", 1.0, 2.0),
        Run("a", "a1", "k1", 2.0, 3.0),
        Run("b", "b0", "k1", 3.5, 4.0),
        Run("c", "c0", "k2", 1.5, 2.5),  # another key may run meanwhile
    ]
    counts, problems = check_keyed(started, in_turn)
    assert (counts["overlapping"], counts["out_of_order"], counts["keys"]) == (0, 0, 2)
    assert problems == []

    # b's first run began while a's last was still running.
    overlapping = [*in_turn[:2], Run("b", "b0", "k1", 2.9, 4.0), in_turn[3]]
    counts, problems = check_keyed(started, overlapping)
    assert (counts["overlapping"], counts["out_of_order"]) == (1, 1)
    assert problems[0].startswith("overlap on key k1: step b0 of saga b began 0.100s before")

    # b, started after a, ran wholly before it.
    swapped = [Run("a", "a0", "k1", 5.0, 6.0), Run("b", "b0", "k1", 1.0, 2.0), in_turn[3]]
    counts, problems = check_keyed(started, swapped)
    assert (counts["overlapping"], counts["out_of_order"]) == (0, 1)
    assert problems == [
        "out of order on key k1: saga b began before saga a, started ahead of it, had ended"
    ]


def test_sagas_past_their_pivot_only_go_forward_despite_engine_kills(amqp, tmp_path):
    """30 forward sagas, 2 engines, SIGKILLed three times while the sagas run and
    once while the halted ones are repaired (retry_step asked by two operators at
    once, or a paced re-drive): none lost, doubled, stuck or undone past its pivot."""
    config = ChaosConfig(
        sagas=30,
        engines=2,
        seed=11,
        kinds=(FORWARD,),
        kills=3,
        broker_restart=False,
        db_kills=1,
        duplicates=3,
        poison=0,
        start_window=10,
        timeout=90,
        log_dir=tmp_path,
        repair_kills=1,
    )
    result = Scenario(config, amqp).run()
    report = f"{result.summary()}\n{result.details()}"
    print(report)
    assert result.faults["engine_kill"] == 4, report
    assert result.sagas == 30 and result.failed_starts == 0, report
    forward = result.kinds[FORWARD]
    assert forward["sagas"] == 30, report
    assert forward["lost"] == 0, report
    assert forward["duplicated_effects"] == 0, report
    assert forward["stuck"] == 0, report
    assert forward["undone_past_pivot"] == 0, report
    assert forward["wrong_outcome"] == 0, report
    repairs = result.repairs
    assert repairs[RETRY_STEP] >= 1 and repairs[REDRIVE] >= 1, report
    assert repairs[RETRY_STEP] + repairs[REDRIVE] == repairs["halted"], report
    assert repairs["refused"] == repairs[RETRY_STEP], report  # each race: one refused
    assert result.states == {"completed": 30}, report
    assert "[forward: sagas=30 lost=0 duplicated_effects=0 stuck=0 undone_past_pivot=0 " in (
        result.summary()
    ), report
    assert result.ok, report


def test_the_checks_catch_lost_duplicated_and_phantom_effects(amqp, tmp_path):
    """Without faults every check passes; sabotaging the ledger afterwards is caught."""
    quiet = ChaosConfig(
        sagas=8,
        engines=1,
        kills=0,
        broker_restart=False,
        db_kills=0,
        duplicates=0,
        poison=0,
        start_window=1,
        timeout=60,
        log_dir=tmp_path,
        repair_kills=0,
    )
    scenario = Scenario(quiet, amqp)
    result = scenario.run()
    assert result.ok, f"{result.summary()}\n{result.details()}"

    # Sabotaged: steps of sagas other than the forward one, whose own sabotage follows.
    plain = [i for i in scenario.saga_ids if scenario.plans[i].kind not in (FORWARD, MAP, CHILD)]
    completed = list(SagaStep.objects.filter(saga_id__in=plain, status="completed")[:2])
    failed = SagaStep.objects.filter(saga_id__in=scenario.saga_ids, status="failed").first()
    assert len(completed) == 2 and failed is not None
    Effect.objects.filter(step_id=completed[0].id, kind=Effect.DO).delete()
    Effect.objects.create(saga_id=completed[1].saga_id, step_id=completed[1].id, kind="do")
    Effect.objects.create(saga_id=failed.saga_id, step_id=failed.id, kind="do")
    Saga.objects.filter(pk=failed.saga_id).update(state="compensating")
    scenario.broker.publish(amqp["DEAD_LETTER_QUEUE"], [b"not injected by the scenario"])
    # An undo of a step before the pivot, in a saga past its pivot.
    [forward] = [i for i in scenario.saga_ids if scenario.plans[i].kind == FORWARD]
    before_pivot = SagaStep.objects.get(saga_id=forward, position=0)
    Effect.objects.create(saga_id=forward, step_id=before_pivot.id, kind="undo")

    sabotaged = scenario.check()
    assert (sabotaged.lost, sabotaged.duplicated_effects, sabotaged.phantom_effects) == (1, 1, 2)
    assert sabotaged.stuck == 1
    assert sabotaged.undone_past_pivot == 1
    assert not sabotaged.dead_letters_exact
    assert sabotaged.summary().startswith(
        "sagas=8 faults=0 lost=1 duplicated_effects=1 stuck=1 dead_letters=1/0 "
    )
    assert "[forward: sagas=1 lost=0 duplicated_effects=0 stuck=0 undone_past_pivot=1 " in (
        sabotaged.summary()
    )
    assert not sabotaged.ok
