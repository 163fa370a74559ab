"""A child step's messages: start its saga, settle from its end, undo it.

The step's execute message builds the child's definition and writes the
child saga (its rows and first messages) in the parent's transaction, under
a key made of the parent and the step: a start delivered twice finds the
child the first one made. The step then waits; the child's end reaches it
as a ``settle`` message (``flow.parents``). Its compensate message asks the
child to compensate, locking the child's rows inside the parent's
transaction: a parent may lock its children, never the reverse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import children, clock
from ..conf import saga_settings
from ..errors import InvalidStateTransition, LimitExceeded, SagaNotFound
from ..messages import COMPENSATE, EXECUTE
from ..models import WAITING_FOR_OPERATOR, SagaState, SagaStep, StepStatus
from ..starts import check_start
from ..stores.base import KeyTaken
from .backward import compensation_failed, compensation_succeeded, request_compensation
from .dispatch import start
from .forward import step_failed, step_succeeded
from .history import COMPENSATED, COMPLETED, FAILED, record

if TYPE_CHECKING:
    from ..models import Saga
    from ..stores.base import Unit

#: The key of a child step's output that names its child saga.
CHILD = "child"
#: The key of a completed child step's output holding its child's step outputs.
STEPS = "steps"
#: The history kind of what a child's end did to its step.
SETTLED = "child"
#: The history outcome of a child step's message that started its child.
STARTED_CHILD = "started child"
#: The history outcome of a compensate message that asked the child to compensate.
COMPENSATING_CHILD = "compensating child"


def child_message(unit: Unit, step: SagaStep) -> str:
    """Act on the execute message of a child step: start its child saga and
    wait for it (or fail the step, naming why no child can start)."""
    parent = unit.saga
    unit.lock_saga()
    try:
        saga, rows = _child_rows(parent, step)
    except Exception as exc:  # a definition's own code: it may raise anything
        error = f"{type(exc).__name__}: {exc}"
        record(step, EXECUTE, step.attempts, FAILED, 0, error)
        step_failed(unit, step, error, 0)
        return FAILED
    try:
        with unit.owning_store().create(saga, rows) as child_unit:
            start(child_unit)
        child_id = saga.pk
    except KeyTaken as taken:
        child_id = taken.saga_id  # started by an earlier delivery of this message
    step.status = StepStatus.WAITING
    step.output = {CHILD: child_id}
    step.error = ""
    step.executed_at = clock.now()
    step.timeout_at = None
    record(step, EXECUTE, step.attempts, STARTED_CHILD, 0, note={CHILD: child_id})
    unit.save_step(step, ["status", "output", "error", "executed_at", "timeout_at", "history"])
    unit.touch()
    return STARTED_CHILD


def settle_child(unit: Unit, step: SagaStep) -> str:
    """Act on a settle message: the step's child ended (or stopped for an
    operator); the step follows it. Returns the history outcome, or the
    child's state where it changes nothing."""
    child_id = str(step.output.get(CHILD) or "")
    try:
        child = unit.owning_store().load_saga(child_id)
    except SagaNotFound:
        return "stale"
    state = child.state
    about = f"child saga {child_id} is {state}"
    if step.status == StepStatus.WAITING:
        if state == SagaState.COMPLETED:
            record(step, SETTLED, step.attempts, COMPLETED, note={CHILD: child_id})
            step_succeeded(unit, step, _output(child), step.duration_ms or 0)
            return COMPLETED
        if state == SagaState.COMPENSATED:
            error = f"{about}: {child.error}" if child.error else about
            record(step, SETTLED, step.attempts, FAILED, error=error, note={CHILD: child_id})
            step_failed(unit, step, error, step.duration_ms or 0)
            return FAILED
    elif step.status == StepStatus.COMPENSATING:
        if state == SagaState.COMPENSATED:
            record(step, SETTLED, step.compensation_attempts, COMPENSATED, note={CHILD: child_id})
            compensation_succeeded(unit, step)
            return COMPENSATED
        if state == SagaState.COMPENSATION_FAILED:
            error = f"{about}: {child.error}"
            record(step, SETTLED, step.compensation_attempts, FAILED, error=error)
            compensation_failed(unit, step, error)
            return FAILED
    if state in WAITING_FOR_OPERATOR:
        # The parent waits: an operator settles the child on its own page,
        # whose end then reaches this step again.
        step.error = f"{about}, waiting for an operator: {child.error}"
        record(step, SETTLED, step.attempts, state, error=step.error, note={CHILD: child_id})
        unit.save_step(step, ["error", "history"])
        unit.touch()
    return str(state)


def compensate_child(unit: Unit, step: SagaStep) -> str:
    """Act on the compensate message of a child step: have its child
    compensate (cancelling what it still runs), or settle the step at once
    if the child has nothing left to undo."""
    child_id = str(step.output.get(CHILD) or "")
    attempt = step.compensation_attempts
    try:
        with unit.owning_store().open_saga(child_id) as child_unit:
            child = child_unit.saga
            if child.state == SagaState.COMPENSATED:
                done = True
            elif child.state == SagaState.COMPENSATING:
                done = False
            else:
                if not child.error:
                    child.error = f"its parent saga {unit.saga.pk} is compensating"
                request_compensation(child_unit)
                done = False
    except SagaNotFound:
        done = True  # purged: a child ends before retention removes it
    except InvalidStateTransition as exc:
        error = f"child saga {child_id} cannot be compensated: {exc}"
        record(step, COMPENSATE, attempt, FAILED, 0, error)
        compensation_failed(unit, step, error)
        return FAILED
    if done:
        record(step, COMPENSATE, attempt, COMPENSATED, 0, note={CHILD: child_id})
        compensation_succeeded(unit, step)
        return COMPENSATED
    last = step.history[-1] if step.history else {}
    if (last.get("kind"), last.get("attempt"), last.get("outcome")) != (
        COMPENSATE,
        attempt,
        COMPENSATING_CHILD,
    ):
        # Once per attempt: a copy of the message finds the child on its way.
        record(step, COMPENSATE, attempt, COMPENSATING_CHILD, 0, note={CHILD: child_id})
        unit.save_step(step, ["history"])
    unit.touch()
    return COMPENSATING_CHILD


def _child_rows(parent: Saga, step: SagaStep) -> tuple[Saga, list[SagaStep]]:
    """The rows of the child saga ``step`` of ``parent`` starts."""
    where = f"Child step {step.name!r}"
    depth = parent.depth + 1
    limit = int(saga_settings.CHILD_MAX_DEPTH)
    if depth > limit:
        raise LimitExceeded(
            f"{where} would start a saga at depth {depth}, deeper than "
            f"SAGA['CHILD_MAX_DEPTH'] ({limit}): does a definition start itself?"
        )
    definition = children.build(step.input, where)
    kind = type(definition)
    checked = check_start(
        kind.saga_name(),
        definition.steps(),
        definition.context(),
        None,
        children.key(parent.pk, step.name),
        origin=(kind.path(), str(kind.version)),
    )
    saga, rows = checked.rows()
    saga.parent_id = parent.pk
    saga.parent_step_id = step.pk
    saga.depth = depth
    saga.priority = parent.priority  # a high-priority parent's children hurry too
    return saga, rows


def _output(child: Saga) -> dict[str, Any]:
    """A completed child step's output: its child and the child's step outputs."""
    return {CHILD: child.pk, STEPS: {s.name: s.output for s in child.steps if not s.is_item}}
