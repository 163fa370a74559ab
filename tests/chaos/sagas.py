"""Chaos handlers, found by django-saga's autodiscovery of ``sagas.py``.

Each writes one ``Effect`` row inside the transaction that records its step's
result, so the ledger shows how often an effect really committed. Inputs:

* ``sleep``: seconds to hold the transaction open after writing (widens the
  window in which a fault can hit a running handler);
* ``fail_times``: attempts ``chaos.transient`` fails with ``RetryableError``;
* ``undo_fail_times``: compensation attempts ``chaos.undo_transient`` fails;
* ``fail_times`` counts the attempts ``chaos.halts`` fails too: more than its
  two tries, so that its saga halts past its pivot, unless its input says
  ``repaired`` (an operator's ``retry_step`` adds that).

``chaos.keyed`` and its compensation ``chaos.keyed_undo`` run one at a time
per saga key in the whole deployment (``concurrency=1, per="key"``); their
effects record the key and when the run began and ended, so that the checks
can tell whether two runs of a key overlapped.

With ``SAGA_CHAOS_TRACE`` set to a file path, every handler call appends
``step_id kind attempt`` to it outside any transaction: a call that appears
twice ran but did not commit the first time (a fault interrupted it).
"""

import os
import time

from django_saga import (
    RetryableError,
    RetryPolicy,
    SagaDefinition,
    Step,
    compensation_handler,
    step_handler,
)

from .models import Effect

#: Fast retries: the scenario's transient failures must not dominate its run time.
FAST_RETRY = RetryPolicy(max_attempts=8, backoff=0.05, max_delay=0.5)
#: Two quick attempts: a step that fails both stops its saga for an operator.
TWO_TRIES = RetryPolicy(max_attempts=2, backoff=0.05, max_delay=0.5)


def _trace(step, kind, attempt):
    path = os.environ.get("SAGA_CHAOS_TRACE")
    if path:
        with open(path, "a") as trace:
            trace.write(f"{step.id} {kind} {attempt}\n")


def _effect(saga, step, kind):
    Effect.objects.create(saga_id=saga.id, step_id=step.id, kind=kind)
    time.sleep(step.input.get("sleep", 0))


@step_handler("chaos.ok")
def ok(saga, step):
    _trace(step, Effect.DO, step.attempts)
    _effect(saga, step, Effect.DO)
    return {"attempt": step.attempts}


@step_handler("chaos.transient", retry=FAST_RETRY)
def transient(saga, step):
    _trace(step, Effect.DO, step.attempts)
    if step.attempts <= step.input.get("fail_times", 1):
        raise RetryableError(f"transient failure on attempt {step.attempts}")
    _effect(saga, step, Effect.DO)
    return {"attempt": step.attempts}


@step_handler("chaos.permanent")
def permanent(saga, step):
    _trace(step, Effect.DO, step.attempts)
    # The effect is written first: it must roll back with the failed step.
    _effect(saga, step, Effect.DO)
    raise ValueError("chaos: permanent failure")


@compensation_handler("chaos.undo", retry=FAST_RETRY)
def undo(saga, step):
    _trace(step, Effect.UNDO, step.compensation_attempts)
    _effect(saga, step, Effect.UNDO)


@compensation_handler("chaos.undo_transient", retry=FAST_RETRY)
def undo_transient(saga, step):
    _trace(step, Effect.UNDO, step.compensation_attempts)
    if step.compensation_attempts <= step.input.get("undo_fail_times", 1):
        raise RuntimeError(f"transient undo failure on attempt {step.compensation_attempts}")
    _effect(saga, step, Effect.UNDO)


@step_handler("chaos.halts", retry=TWO_TRIES)
def halts(saga, step):
    """A call to a downstream service that is down for its first ``fail_times`` attempts.

    Past the pivot its saga then halts; an operator's retry (with ``repaired``
    in the input, or a re-drive once the attempts are past ``fail_times``)
    makes it go on.
    """
    _trace(step, Effect.DO, step.attempts)
    if not step.input.get("repaired") and step.attempts <= step.input.get("fail_times", 2):
        raise RetryableError(f"the downstream service is down (attempt {step.attempts})")
    _effect(saga, step, Effect.DO)
    return {"attempt": step.attempts}


def _keyed_effect(saga, step, kind, began):
    """The effect of a run limited per key, written after its sleep with its span."""
    time.sleep(step.input.get("sleep", 0))
    Effect.objects.create(
        saga_id=saga.id, step_id=step.id, kind=kind, key=saga.key, began=began, ended=time.time()
    )


@step_handler("chaos.keyed", retry=FAST_RETRY, concurrency=1, per="key")
def keyed(saga, step):
    began = time.time()
    _trace(step, Effect.DO, step.attempts)
    if step.attempts <= step.input.get("fail_times", 0):
        raise RetryableError(f"transient failure on attempt {step.attempts}")
    _keyed_effect(saga, step, Effect.DO, began)
    return {"attempt": step.attempts}


@compensation_handler("chaos.keyed_undo", retry=FAST_RETRY, concurrency=1, per="key")
def keyed_undo(saga, step):
    began = time.time()
    _trace(step, Effect.UNDO, step.compensation_attempts)
    _keyed_effect(saga, step, Effect.UNDO, began)


@step_handler("chaos.list")
def listing(saga, step):
    """A step whose output is the list a map stage after it goes over."""
    _trace(step, Effect.DO, step.attempts)
    _effect(saga, step, Effect.DO)
    return {"items": step.input["items"]}


@step_handler("chaos.item", retry=FAST_RETRY)
def item(saga, step):
    """A map's item: fails transiently for the first ``fail_times`` attempts
    its list element says, then does its one effect."""
    _trace(step, Effect.DO, step.attempts)
    if step.attempts <= step.input["item"].get("fail_times", 0):
        raise RetryableError(f"transient failure of an item on attempt {step.attempts}")
    _effect(saga, step, Effect.DO)
    return {"attempt": step.attempts}


class ChaosChild(SagaDefinition):
    """The child saga of the *child* kind: two steps, the first failing
    transiently for the ``fail_times`` its item says."""

    name = "chaos.child"

    def steps(self):
        item = self.params["item"]
        first = "chaos.transient" if item.get("fail_times") else "chaos.ok"
        data = {"sleep": item.get("sleep", 0), "fail_times": item.get("fail_times", 0)}
        return [
            Step("c0", first, "chaos.undo", data),
            Step("c1", "chaos.ok", "chaos.undo", {"sleep": 0}),
        ]
