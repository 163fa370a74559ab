"""Handlers for the test suite, found by django-saga's autodiscovery of sagas.py."""

import os
import threading
import time
from pathlib import Path

from django_saga import (
    FanOut,
    Pending,
    RetryableError,
    RetryPolicy,
    SagaDefinition,
    Skip,
    Step,
    child,
    compensation_handler,
    step_handler,
)

from .models import Ledger, Run


def _record(step, action):
    Ledger.objects.create(step_id=step.id, action=action)


@step_handler("test.record")
def record(saga, step):
    _record(step, "do:" + step.name)
    return {"done": step.name, "seen_context": saga.context.get("tag")}


@step_handler("test.set_output")
def set_output(saga, step):
    _record(step, "do:" + step.name)
    step.output = {"via": "attribute"}


@step_handler("test.record_then_fail")
def record_then_fail(saga, step):
    _record(step, "do:" + step.name)
    raise RuntimeError("card declined")


@step_handler("test.fail")
def fail(saga, step):
    raise ValueError(f"{step.name} refuses")


@step_handler("test.fail_oddly")
def fail_oddly(saga, step):
    """An error text no column takes as it is: a NUL character, then 100,000 more."""
    raise ValueError("nul \x00 here" + "x" * 100_000)


@step_handler("test.sleep_then_fail")
def sleep_then_fail(saga, step):
    """Fails after ``input['seconds']``: long enough for a sibling to be under way."""
    time.sleep(step.input["seconds"])
    raise RuntimeError("check failed")


@step_handler("test.keyerror")
def keyerror(saga, step):
    return {"value": step.input["missing"]}


@step_handler("test.bad_output")
def bad_output(saga, step):
    _record(step, "do:" + step.name)
    return {"value": object()}


@step_handler("test.exit")
def exits(saga, step):
    raise SystemExit(3)


@step_handler("test.returns_list")
def returns_list(saga, step):
    return ["not", "a", "dict"]


@step_handler("test.sleep")
def sleep(saga, step):
    time.sleep(step.input.get("seconds", 0.5))
    _record(step, "do:" + step.name)
    return {"pid": os.getpid()}


@step_handler("test.pid")
def pid(saga, step):
    _record(step, "do:" + step.name)
    return {"pid": os.getpid()}


@step_handler("test.flaky")
def flaky(saga, step):
    _record(step, f"try:{step.name}:{step.attempts}")  # rolled back with the failure
    if step.attempts <= step.input.get("fail_times", 1):
        raise RetryableError(f"attempt {step.attempts} of {step.name} hit a blip")
    return {"attempt": step.attempts}


@step_handler("test.breaks", retry=RetryPolicy(max_attempts=3, backoff=0.01, jitter=0))
def breaks(saga, step):
    """Raises a plain exception (not a RetryableError) for its first
    ``input['fail_times']`` attempts (all of them if absent)."""
    if step.attempts <= step.input.get("fail_times", step.attempts):
        raise KeyError(f"attempt {step.attempts} of {step.name}: no such parcel")
    _record(step, "do:" + step.name)
    return {"attempt": step.attempts}


@step_handler("test.connection_error")
def connection_error(saga, step):
    raise ConnectionError("upstream reset the connection")


@step_handler("test.slow_first")
def slow_first(saga, step):
    if step.attempts == 1:
        time.sleep(step.input.get("seconds", 0.5))
    _record(step, "do:" + step.name)
    return {"attempt": step.attempts}


@step_handler("test.pending")
def pending(saga, step):
    _record(step, "do:" + step.name)
    return Pending({"ref": f"ext-{step.name}"}, timeout=step.input.get("wait"))


@step_handler("test.pending_once", retry=RetryPolicy(max_attempts=1))
def pending_once(saga, step):
    _record(step, "do:" + step.name)
    return Pending({"ref": f"ext-{step.name}"}, timeout=step.input.get("wait"))


@step_handler("test.pending_then", retry=RetryPolicy(max_attempts=3, backoff=0.01, jitter=0))
def pending_then(saga, step):
    """Waits ``input['wait']`` seconds for a result; ``input['on_timeout']`` says
    what the clock does then (with ``input['timeout_output']``)."""
    _record(step, "do:" + step.name)
    return Pending(
        {"ref": f"ext-{step.name}"},
        timeout=step.input["wait"],
        on_timeout=step.input["on_timeout"],
        timeout_output=step.input.get("timeout_output"),
    )


@step_handler("test.skip_unless")
def skip_unless(saga, step):
    """Runs only when the saga's context sets the flag the input names."""
    if not saga.context.get(step.input["flag"]):
        return Skip(f"{step.input['flag']} is off")
    _record(step, "do:" + step.name)
    return {"ran": True}


@step_handler("test.barrier")
def barrier(saga, step):
    """Meet the other steps of the stage (in any process) before finishing.

    Each sibling drops a file in ``input['dir']`` and waits until ``parties``
    files are there, so they all finish together and race for the saga lock.
    """
    meeting = Path(step.input["dir"]) / saga.id
    meeting.mkdir(parents=True, exist_ok=True)
    (meeting / step.name).touch()
    deadline = time.monotonic() + 15
    while len(list(meeting.iterdir())) < step.input["parties"] and time.monotonic() < deadline:
        time.sleep(0.005)
    _record(step, "do:" + step.name)
    if step.input.get("fail"):
        raise ValueError(f"{step.name} refuses")
    return {"pid": os.getpid()}


@compensation_handler("test.undo_flaky")
def undo_flaky(saga, step):
    if step.compensation_attempts <= step.input.get("undo_fail_times", 1):
        raise RuntimeError(f"refund attempt {step.compensation_attempts} failed")
    _record(step, "undo:" + step.name)


@compensation_handler("test.undo")
def undo(saga, step):
    _record(step, "undo:" + step.name)


@compensation_handler("test.undo_ref")
def undo_ref(saga, step):
    """Undoes what the step's saved output names (``ref``, if it got that far)."""
    _record(step, f"undo:{step.name}:{step.output.get('ref', '-')}")


@compensation_handler("test.undo_seeing_state")
def undo_seeing_state(saga, step):
    # What another reader sees of the saga while this compensation runs.
    from django_saga.models import Saga

    _record(step, "saw:" + Saga.objects.get(pk=saga.id).state)


@compensation_handler("test.undo_fail")
def undo_fail(saga, step):
    _record(step, "undo:" + step.name)
    raise RuntimeError("refund service down")


@step_handler("test.needs_ok", retry=RetryPolicy(max_attempts=2, backoff=0.01, jitter=0))
def needs_ok(saga, step):
    """Fails, retryably, until an operator gives it ``{"ok": true}`` as input."""
    if not step.input.get("ok"):
        raise RetryableError(f"{step.name}: the service refuses attempt {step.attempts}")
    _record(step, "do:" + step.name)
    return {"attempt": step.attempts}


@step_handler("test.downstream", retry=RetryPolicy(max_attempts=2, backoff=0.01, jitter=0))
def downstream(saga, step):
    """Calls a downstream service that is up while the file ``input['up']`` exists.

    While it is down every attempt fails, retryably. A call that succeeds
    leaves a Ledger row, whose ``created_at`` is when the call was made, in
    the step's transaction: the ledger holds exactly the calls that counted.
    """
    if not Path(step.input["up"]).exists():
        raise RetryableError(f"{step.name}: the downstream service is down")
    _record(step, "call:" + step.name)
    return {"attempt": step.attempts}


@compensation_handler("test.undo_slowly")
def undo_slowly(saga, step):
    """Undoes with its transaction held open: drops the file ``input['started']``,
    then sleeps ``input['seconds']`` before its effect commits."""
    Path(step.input["started"]).touch()
    _record(step, "undo:" + step.name)
    time.sleep(step.input.get("seconds", 0.5))


class Report(SagaDefinition):
    """What the schedule tests start: one step, ``test.record`` unless the
    ``action`` parameter names another (``test.pending`` keeps the run active)."""

    name = "report"

    def steps(self):
        return [Step("count", self.params.get("action", "test.record"), "")]


class Broken(SagaDefinition):
    """A definition whose own code fails, as one with a bad parameter would."""

    name = "broken"

    def steps(self):
        raise KeyError("warehouse")


#: Items of ``test.item`` running now in this process, and the most seen at once.
ITEMS_RUNNING = {"now": 0, "peak": 0}
_items_lock = threading.Lock()


@step_handler("test.item")
def item(saga, step):
    """A map's item: records itself, takes ``input['pause']`` seconds with the
    others counted, and fails when its item says ``fail``."""
    with _items_lock:
        ITEMS_RUNNING["now"] += 1
        ITEMS_RUNNING["peak"] = max(ITEMS_RUNNING["peak"], ITEMS_RUNNING["now"])
    try:
        time.sleep(step.input.get("pause", 0))
        value = step.input["item"]
        if isinstance(value, dict) and value.get("fail"):
            raise ValueError(f"item {step.input['index']} refuses")
        _record(step, f"do:{step.name}")
        return {"item": value}
    finally:
        with _items_lock:
            ITEMS_RUNNING["now"] -= 1


@step_handler("test.list")
def list_output(saga, step):
    """Returns the list its input names, for a map over this step's output."""
    _record(step, "do:" + step.name)
    return {"lines": step.input["lines"]}


@step_handler("test.fan_out")
def fan_out(saga, step):
    """Returns the list its input names as a FanOut, for a map named after this step."""
    _record(step, "do:" + step.name)
    return FanOut(step.input["lines"], {"found": len(step.input["lines"])})


@step_handler("test.item_gauge")
def item_gauge(saga, step):
    """A map's item that counts the items running with it, in any process:
    a file of its own in ``input['dir']`` while it runs (``input['pause']``
    seconds), and the count it saw in the ledger."""
    mine = Path(step.input["dir"]) / step.id
    mine.touch()
    try:
        seen = len(list(mine.parent.iterdir()))
        time.sleep(step.input["pause"])
        _record(step, f"seen:{seen}")
    finally:
        mine.unlink()
    return {"seen": seen}


class ShipParcel(SagaDefinition):
    """A child saga: books a courier (undone by ``test.undo``), then labels
    the parcel. Its parcel is a map item's ``item`` or the ``parcel`` param;
    a parcel ``{"label": "fail"}`` fails the label, ``{"label": "wait"}``
    leaves it waiting for an outside result."""

    name = "ship_parcel"

    def parcel(self):
        return self.params.get("item", self.params.get("parcel"))

    def steps(self):
        parcel = self.parcel()
        how = parcel.get("label") if isinstance(parcel, dict) else None
        label = {"fail": "test.record_then_fail", "wait": "test.pending"}.get(how, "test.record")
        return [Step("book", "test.record", "test.undo"), Step("label", label, "")]

    def context(self):
        return {"parcel": self.parcel()}


class Nest(SagaDefinition):
    """A saga whose only step is a child saga of its own kind: it nests until
    ``SAGA['CHILD_MAX_DEPTH']`` refuses the next one."""

    name = "nest"

    def steps(self):
        return [Step("mark", "test.record", "test.undo"), child("again", Nest)]


def _timed_run(saga, step, action):
    """Sleep ``input['seconds']`` (0.05 by default) and record the run's span."""
    began = time.time()
    time.sleep(step.input.get("seconds", 0.05))
    Run.objects.create(
        action=action, saga_id=saga.id, key=saga.key or "", began=began, ended=time.time()
    )
    return {"ran": action}


@step_handler("test.limited", concurrency=5)
def limited(saga, step):
    return _timed_run(saga, step, "test.limited")


@step_handler("test.one_per_key", concurrency=1, per="key")
def one_per_key(saga, step):
    return _timed_run(saga, step, "test.one_per_key")


@step_handler("test.paced", rate="20/s")
def paced(saga, step):
    return _timed_run(saga, step, "test.paced")


@step_handler("test.timed")
def timed(saga, step):
    return _timed_run(saga, step, "test.timed")
