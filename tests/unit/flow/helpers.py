"""Sagas in memory and units over them, for the state machine's tests.

No engine, no broker, no database: a test builds a saga in memory, hands
``flow`` a unit over it, and reads what the unit would commit (step and saga
states, the messages it would send).
"""

from __future__ import annotations

from django_saga import flow
from django_saga.messages import EXECUTE, decode
from django_saga.models import Saga, SagaState, SagaStep
from django_saga.stores.memory import MemoryStore, MemoryUnit


def build(*stages: tuple[str, ...], timeout: float | None = None) -> Saga:
    """A started saga whose stages hold the named steps (a name ending in '-' has no undo)."""
    saga = Saga(name="order", state=SagaState.STARTED)
    steps: list[SagaStep] = []
    for number, names in enumerate(stages):
        for name in names:
            steps.append(
                SagaStep(
                    saga=saga,
                    position=len(steps),
                    stage=number,
                    name=name.rstrip("-"),
                    action="do",
                    compensation="" if name.endswith("-") else "undo",
                    timeout=timeout,
                )
            )
    saga.set_steps(steps)
    return saga


def unit_for(saga: Saga, step: str | None = None) -> MemoryUnit:
    return MemoryUnit(saga, saga.step(step) if step else None, fast_path=True, store=MemoryStore())


def sent(unit: MemoryUnit) -> list[tuple[str, str, int]]:
    """(kind, step name, attempt) of every message the unit would send, now or later."""
    names = {s.pk: s.name for s in unit.saga.steps}
    bodies = [m.body for m in unit.outgoing] + [m.body for m, _ in unit.delayed]
    return [
        (m.kind, names[m.step_id], m.attempt) for m in (decode(b.encode(), 10_000) for b in bodies)
    ]


def statuses(saga: Saga) -> dict[str, str]:
    return {s.name: s.status for s in saga.steps}


def run_to_completed(saga: Saga, *names: str) -> None:
    for name in names:
        unit = unit_for(saga, name)
        flow.step_succeeded(unit, unit.step, {"done": name}, 1)


def waiting_saga() -> Saga:
    saga = build(("pay",), ("ship",))
    flow.start(unit_for(saga))
    unit = unit_for(saga, "pay")
    # As the processor records a handler's Pending.
    flow.record(unit.step, EXECUTE, 1, flow.WAITED, 2)
    flow.step_waiting(unit, unit.step, {"ref": "ext-1"}, 2, timeout=600)
    return saga
