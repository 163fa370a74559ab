"""The sagas a chaos run starts: their kinds, steps, and the outcome each must reach.

*ok*, *transient*, *permanent* and *undo_transient* are step lists; *parallel*
has a stage of two or three; *forward* a pivot and steps after it, some of
which halt the saga for an operator; *map* a map stage over a list an
earlier step returned; *child* a map of child sagas and a child step;
*keyed* shares a business key with others and is started with
``if_active="queue"``, its steps limited to one run at a time per key.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from django_saga import Parallel, Step, child, each, parallel

from .sagas import ChaosChild

COMPLETED = "completed"
COMPENSATED = "compensated"

FORWARD = "forward"
MAP = "map"
CHILD = "child"
KEYED = "keyed"
KINDS = ("ok", "transient", "permanent", "undo_transient", "parallel", FORWARD, MAP, CHILD, KEYED)
#: The business keys *keyed* sagas draw from: few, so that most wait in a queue.
KEYS = 4

#: How a forward saga that halts is repaired.
RETRY_STEP = "retry_step"
REDRIVE = "redrive"
#: ``chaos.halts`` attempts that fail when only ``retry_step``'s corrected input helps.
DOWN_FOR_GOOD = 1_000_000
#: Seconds a re-drive of the halted sagas takes, unless ``redrive_rate`` says.
REDRIVE_SECONDS = 4.0
#: Seconds a handler holds its transaction open after writing its effect.
SLEEPS = (0, 0, 0, 0.01, 0.05, 0.2)


@dataclass
class SagaPlan:
    """One saga to start and the outcome it must reach."""

    kind: str
    steps: list[Step | Parallel]
    expected_state: str
    expected_statuses: list[str]
    #: How an operator repairs the saga once it halts: RETRY_STEP, REDRIVE, or "".
    repair: str = ""
    #: The step that halts it, and the input ``retry_step`` gives that step.
    repair_step: str = ""
    repair_input: dict[str, Any] = field(default_factory=dict)
    #: Child sagas its steps start (one per child step, or item of a map of them).
    children: int = 0
    #: Its business key; a saga with one is started with ``if_active="queue"``.
    key: str = ""


def plan_sagas(rng: random.Random, count: int, kinds: tuple[str, ...] = KINDS) -> list[SagaPlan]:
    """``count`` sagas, the kinds in turn (so even a small run has each), shuffled."""
    plans = [_plan(rng, kinds[i % len(kinds)]) for i in range(count)]
    rng.shuffle(plans)
    return plans


def _plan(rng: random.Random, kind: str) -> SagaPlan:
    if kind == "parallel":
        return _parallel_plan(rng)
    if kind == MAP:
        return _map_plan(rng)
    if kind == CHILD:
        return _child_plan(rng)
    if kind == FORWARD:
        return _forward_plan(rng)
    if kind == KEYED:
        return _keyed_plan(rng)
    size = rng.randint(2, 5)
    fail_at = -1
    if kind == "permanent":
        fail_at = rng.randrange(size)
    elif kind == "undo_transient":
        fail_at = rng.randint(1, size - 1)
    transient = set(rng.sample(range(size), rng.randint(1, 2))) if kind == "transient" else set()
    steps = []
    for position in range(size):
        data: dict[str, Any] = {"sleep": rng.choice(SLEEPS)}
        action, compensation = "chaos.ok", "chaos.undo"
        if position == fail_at:
            action = "chaos.permanent"
        elif position in transient:
            action = "chaos.transient"
            data["fail_times"] = rng.randint(1, 3)
        if kind == "undo_transient" and position < fail_at and rng.random() < 0.7:
            compensation = "chaos.undo_transient"
            data["undo_fail_times"] = rng.randint(1, 3)
        elif kind == "permanent" and rng.random() < 0.1:
            compensation = ""  # nothing to undo: compensated without a message
        steps.append(Step(f"s{position}", action, compensation, data))
    if fail_at < 0:
        return SagaPlan(kind, steps, COMPLETED, ["completed"] * size)
    statuses = ["compensated"] * fail_at + ["failed"] + ["cancelled"] * (size - fail_at - 1)
    return SagaPlan(kind, steps, COMPENSATED, statuses)


def _parallel_plan(rng: random.Random) -> SagaPlan:
    """A step, a stage of two or three (some transient), then a last step that may fail."""
    width = rng.randint(2, 3)
    stage = []
    for position in range(1, width + 1):
        data: dict[str, Any] = {"sleep": rng.choice(SLEEPS)}
        action = "chaos.ok"
        if rng.random() < 0.3:
            action = "chaos.transient"
            data["fail_times"] = rng.randint(1, 2)
        stage.append(Step(f"s{position}", action, "chaos.undo", data))
    fails = rng.random() < 0.5
    last = Step(
        f"s{width + 1}", "chaos.permanent" if fails else "chaos.ok", "chaos.undo", {"sleep": 0}
    )
    steps = [Step("s0", "chaos.ok", "chaos.undo", {"sleep": 0}), parallel(*stage), last]
    if fails:
        return SagaPlan("parallel", steps, COMPENSATED, ["compensated"] * (width + 1) + ["failed"])
    return SagaPlan("parallel", steps, COMPLETED, ["completed"] * (width + 2))


def _keyed_plan(rng: random.Random) -> SagaPlan:
    """A saga of one of ``KEYS`` keys: a step, a stage of two (which the limit
    per key makes take turns; one may fail transiently first), then a last
    step that fails in half of them. Every action and compensation but the
    failing step's runs one at a time per key."""
    stage = []
    for position in (1, 2):
        data: dict[str, Any] = {"sleep": rng.choice(SLEEPS)}
        if rng.random() < 0.3:
            data["fail_times"] = rng.randint(1, 2)
        stage.append(Step(f"s{position}", "chaos.keyed", "chaos.keyed_undo", data))
    fails = rng.random() < 0.5
    last = Step("s3", "chaos.permanent" if fails else "chaos.keyed", "chaos.keyed_undo", {})
    steps = [
        Step("s0", "chaos.keyed", "chaos.keyed_undo", {"sleep": rng.choice(SLEEPS)}),
        parallel(*stage),
        last,
    ]
    key = f"k{rng.randrange(KEYS)}"
    if fails:
        return SagaPlan(KEYED, steps, COMPENSATED, ["compensated"] * 3 + ["failed"], key=key)
    return SagaPlan(KEYED, steps, COMPLETED, ["completed"] * 4, key=key)


def _map_plan(rng: random.Random) -> SagaPlan:
    """A step whose output lists three to eight items, a map over them (two
    or three at a time, some failing transiently first), then a last step
    that may fail: then every item is undone once, and the first step."""
    count = rng.randint(3, 8)
    listed = [{"fail_times": rng.randint(1, 2)} if rng.random() < 0.3 else {} for _ in range(count)]
    fails = rng.random() < 0.5
    steps: list[Step | Parallel] = [
        Step("s0", "chaos.list", "chaos.undo", {"items": listed, "sleep": 0}),
        each("m", "chaos.item", "chaos.undo", over="s0.items",
             input={"sleep": rng.choice(SLEEPS)}, max_concurrency=rng.randint(2, 3)),
        Step("s2", "chaos.permanent" if fails else "chaos.ok", "chaos.undo", {"sleep": 0}),
    ]  # fmt: skip
    # The declared steps by position, then the items.
    if fails:
        statuses = ["compensated", "compensated", "failed"] + ["compensated"] * count
        return SagaPlan(MAP, steps, COMPENSATED, statuses)
    return SagaPlan(MAP, steps, COMPLETED, ["completed"] * (3 + count))


def _child_plan(rng: random.Random) -> SagaPlan:
    """A step listing two to four items, a map of child sagas over them (two at
    a time, some failing transiently first), a child step, then a last step
    that may fail: then every child is compensated once, and the first step."""
    count = rng.randint(2, 4)
    listed = [{"fail_times": rng.randint(1, 2)} if rng.random() < 0.3 else {} for _ in range(count)]
    fails = rng.random() < 0.5
    steps: list[Step | Parallel] = [
        Step("s0", "chaos.list", "chaos.undo", {"items": listed, "sleep": 0}),
        each("m", ChaosChild, over="s0.items", max_concurrency=2),
        child("c", ChaosChild(item={"sleep": rng.choice(SLEEPS)})),
        Step("s3", "chaos.permanent" if fails else "chaos.ok", "chaos.undo", {"sleep": 0}),
    ]
    # The declared steps by position, then the map's items.
    if fails:
        statuses = ["compensated"] * 3 + ["failed"] + ["compensated"] * count
        return SagaPlan(CHILD, steps, COMPENSATED, statuses, children=count + 1)
    return SagaPlan(CHILD, steps, COMPLETED, ["completed"] * (4 + count), children=count + 1)


def _forward_plan(rng: random.Random) -> SagaPlan:
    """One or two steps that can be undone, the pivot, then one to three steps
    that may only go forward, half of them failing transiently first.

    Two sagas in three also get a step (alone, or beside another in a stage)
    whose downstream fails both its attempts: the saga halts, is repaired
    after the faults, and completes. Nothing of it may ever be undone.
    """
    steps: list[Step | Parallel] = [
        Step(f"s{position}", "chaos.ok", "chaos.undo", {"sleep": rng.choice(SLEEPS)})
        for position in range(rng.randint(1, 2))
    ]
    steps.append(Step("pivot", "chaos.ok", "", {"sleep": rng.choice(SLEEPS)}, pivot=True))
    after: list[Step | Parallel] = []
    for position in range(rng.randint(1, 3)):
        data: dict[str, Any] = {"sleep": rng.choice(SLEEPS)}
        action = "chaos.ok"
        if rng.random() < 0.5:
            action = "chaos.transient"
            data["fail_times"] = rng.randint(1, 3)
        after.append(Step(f"f{position}", action, "", data))
    repair = rng.choice(("", RETRY_STEP, REDRIVE))
    repair_input: dict[str, Any] = {}
    if repair:
        # A re-drive retries with the same input: the service is back by then.
        fail_times = 2 if repair == REDRIVE else DOWN_FOR_GOOD
        data = {"sleep": rng.choice(SLEEPS), "fail_times": fail_times}
        halting = Step("halts", "chaos.halts", "", data)
        repair_input = {**halting.input, "repaired": True}
        if rng.random() < 0.3:
            # Its sibling goes on while the saga halts, and maybe while it is repaired.
            index = rng.randrange(len(after))
            sibling = after[index]
            assert isinstance(sibling, Step)
            after[index] = parallel(halting, sibling)
        else:
            after.insert(rng.randint(0, len(after)), halting)
    steps += after
    size = sum(len(s.steps) if isinstance(s, Parallel) else 1 for s in steps)
    return SagaPlan(
        FORWARD,
        steps,
        COMPLETED,
        ["completed"] * size,
        repair=repair,
        repair_step="halts" if repair else "",
        repair_input=repair_input,
    )
