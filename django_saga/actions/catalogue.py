"""The operator actions: the one table every door is built from.

Each entry says when the action is refused, what it changes, and how the
console, the JSON API, the admin and ``manage.py saga`` present it. Adding
an action is adding an entry here (and its tests): its permission is
created by ``migrate``, its pages, endpoints, admin action, command and
OpenAPI operation follow from it, and ``manager.act()`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import flow
from ..models import TERMINAL_STATES, Saga, SagaState, SagaStep, StepStatus
from .declaration import Action, Bulk, Data, Request

if TYPE_CHECKING:
    from ..stores.base import Unit

#: States in which a failed step waits for an operator to retry or skip it.
_REPAIRABLE = (SagaState.FAILED, SagaState.HALTED)
#: States in which a waiting step may be completed by hand.
_WAITING_OK = (SagaState.STARTED, *_REPAIRABLE)


def _label(saga: Saga) -> str:
    state = saga.state
    return SagaState(state).label if state in SagaState.values else state


# -- compensate ---------------------------------------------------------------------------
def _compensate_refusal(saga: Saga, steps: Sequence[SagaStep], _: SagaStep | None) -> str | None:
    if saga.state == SagaState.COMPENSATING:
        return f"Saga {saga.pk} is already being compensated."
    if saga.state == SagaState.COMPENSATED:
        return f"Saga {saga.pk} is already compensated."
    if saga.state == SagaState.COMPENSATION_FAILED:
        return f"Saga {saga.pk} has a compensation that failed: retry the compensation instead."
    pivot = flow.pivot_passed(steps)
    if pivot is not None:
        return flow.past_pivot_refusal(saga.pk, pivot) + "."
    return None


def _compensate(unit: Unit, _: SagaStep | None, request: Request, details: dict) -> bool:
    # The manager's compensate() keeps its meaning: a no-op while under way,
    # a retry of what failed on a saga whose compensation failed.
    return flow.request_compensation(unit)


COMPENSATE = Action(
    name="compensate",
    slug="compensate",
    label="Compensate",
    codename="compensate_saga",
    permission_name="Can compensate a saga",
    explanation="Steps not run yet are cancelled; completed steps are undone, last first.",
    done="Compensation requested: completed steps are being undone, last first.",
    refuse=_compensate_refusal,
    change=_compensate,
    refused_when="Refused (`409`) for a saga past its pivot step, already compensating or "
    "compensated, or whose compensation failed (retry it instead).",
    api_id="compensateSaga",
    api_summary="Compensate a saga",
    bulk=Bulk(
        name="compensate_sagas",
        menu="Compensate selected sagas",
        title="Compensate sagas",
        applies="Will be compensated.",
        done=(
            "Compensation requested for %(count)d saga.",
            "Compensation requested for %(count)d sagas.",
        ),
        warning="This cannot be taken back.",
    ),
    undoes=(StepStatus.COMPLETED,),
    forgiving=True,
)


# -- retry the compensation ---------------------------------------------------------------
def _retry_compensation_refusal(
    saga: Saga, steps: Sequence[SagaStep], _: SagaStep | None
) -> str | None:
    if saga.state != SagaState.COMPENSATION_FAILED:
        return (
            f"Saga {saga.pk} is {_label(saga)}; only a saga whose compensation failed "
            "can have it retried."
        )
    return None


def _retry_compensation(unit: Unit, _: SagaStep | None, request: Request, details: dict) -> bool:
    flow.resume_compensation(unit, request.delay)
    return True


RETRY_COMPENSATION = Action(
    name="retry_compensation",
    slug="retry-compensation",
    label="Retry compensation",
    codename="retry_saga_compensation",
    permission_name="Can retry a saga's failed compensation",
    explanation="The compensations that failed run again, each with its whole retry "
    "budget; then the saga goes on undoing, last stage first.",
    done="Compensation resumed: the failed compensations run again.",
    refuse=_retry_compensation_refusal,
    change=_retry_compensation,
    refused_when="Refused (`409`) unless the saga is `compensation_failed`.",
    api_id="retrySagaCompensation",
    api_summary="Retry a saga's failed compensation",
    bulk=Bulk(
        name="retry_saga_compensations",
        menu="Retry compensation of selected sagas",
        title="Retry the compensation of sagas",
        applies="Its failed compensations will run again.",
        done=(
            "Compensation resumed for %(count)d saga.",
            "Compensation resumed for %(count)d sagas.",
        ),
    ),
    undoes=(StepStatus.COMPLETED, StepStatus.COMPENSATION_FAILED),
)


# -- retry a step, skip a step ------------------------------------------------------------
def _step_refusal(saga: Saga, step: SagaStep | None, what: str, waiting_too: bool) -> str | None:
    """Why a failed step (``waiting_too``: or a waiting one) cannot be ``what``
    (retried, skipped) as the saga stands."""
    assert step is not None, "Action.refusal() finds the step, or raises SagaNotFound"
    state, name = saga.state, step.name
    if step.status == StepStatus.FAILED and state in _REPAIRABLE:
        return None
    if waiting_too and step.status == StepStatus.WAITING and state in _WAITING_OK:
        return None
    if step.status == StepStatus.FAILED:
        return (
            f"Saga {saga.pk} is {_label(saga)}; its failed step {name!r} can be {what} only "
            "while the saga is failed or halted."
        )
    if waiting_too and step.status == StepStatus.WAITING:
        return (
            f"Saga {saga.pk} is {_label(saga)}; its waiting step {name!r} can be {what} only "
            "while the saga goes forward or waits for an operator."
        )
    only = "a failed or waiting step" if waiting_too else "a failed step"
    return f"Step {name!r} of saga {saga.pk} is {step.status}; only {only} can be {what}."


def _retry_step_refusal(saga: Saga, steps: Sequence[SagaStep], step: SagaStep | None) -> str | None:
    return _map_refusal(saga, step, "retry") or _step_refusal(
        saga, step, "retried", waiting_too=False
    )


def _map_refusal(saga: Saga, step: SagaStep | None, verb: str) -> str | None:
    """A map that made its items is acted on through them."""
    if step is None or not step.is_map or "items" not in step.output:
        return None
    return (
        f"Step {step.name!r} of saga {saga.pk} is a map whose items were made: "
        f"{verb} its failed items instead"
    )


def _retry_step(unit: Unit, step: SagaStep | None, request: Request, details: dict) -> bool:
    assert step is not None
    details["step_error"] = step.error
    if request.data is not None:
        details["input"] = request.data
        details["previous_input"] = step.input
    flow.retry_step(unit, step, request.data, request.delay, request.note)
    return True


RETRY_STEP = Action(
    name="retry_step",
    slug="retry-step",
    label="Retry step",
    codename="retry_saga_step",
    permission_name="Can retry a failed step of a saga",
    explanation="The step runs again, with the input given, and gets its whole retry "
    "budget back. Once no step of the saga is failed, the saga goes forward.",
    done="Step sent again: the saga goes on once it succeeds.",
    refuse=_retry_step_refusal,
    change=_retry_step,
    refused_when="Refused (`409`) unless the step failed and the saga is `failed` or `halted`, "
    "and for a map stage that made its items (retry those).",
    api_id="retryStep",
    api_summary="Retry a failed step",
    api_segment="retry",
    on_step=True,
    data=Data(
        key="input",
        meaning="The input the step runs with",
        help="The step's own input. Left as it is, the step keeps it; changed, "
        "the step runs with this instead.",
        keeps_own=True,
    ),
)


def _skip_step_refusal(saga: Saga, steps: Sequence[SagaStep], step: SagaStep | None) -> str | None:
    return _map_refusal(saga, step, "skip") or _step_refusal(
        saga, step, "skipped", waiting_too=True
    )


def _skip_step(unit: Unit, step: SagaStep | None, request: Request, details: dict) -> bool:
    assert step is not None
    details["step_error"] = step.error
    details["output"] = request.data
    details["step_status"] = step.status
    flow.skip_step(unit, step, request.data or {}, request.note)
    return True


SKIP_STEP = Action(
    name="skip_step",
    slug="skip-step",
    label="Skip step",
    codename="skip_saga_step",
    permission_name="Can skip a failed or waiting step of a saga",
    explanation="The step is recorded as completed by hand, with the output given, and "
    "the saga goes on. Its handler does not run: do what it would have done first. "
    "If the saga is compensated later, this step's compensation runs.",
    done="Step recorded as completed by hand: the saga goes on.",
    refuse=_skip_step_refusal,
    change=_skip_step,
    refused_when="Refused (`409`) unless the step failed in a `failed` or `halted` "
    "saga, or waits for an outside result in a saga that is `started`, `failed` or `halted`; "
    "and for a map stage that made its items (skip those).",
    api_id="skipStep",
    api_summary="Record a step as completed by hand",
    api_segment="skip",
    on_step=True,
    data=Data(
        key="output",
        meaning="What the step's handler would have returned: later steps and its "
        "compensation read it",
        help="What the step's handler would have returned: later steps and its "
        "compensation read it.",
    ),
)


# -- wake a sleeping step ------------------------------------------------------------------
def _wake_step_refusal(saga: Saga, steps: Sequence[SagaStep], step: SagaStep | None) -> str | None:
    assert step is not None
    if step.sleeping_until is None:
        return f"Step {step.name!r} of saga {saga.pk} is not sleeping; only a sleep can be woken."
    if saga.state not in _WAITING_OK:
        return (
            f"Saga {saga.pk} is {_label(saga)}; its sleeping step {step.name!r} can be woken "
            "only while the saga goes forward or waits for an operator."
        )
    return None


def _wake_step(unit: Unit, step: SagaStep | None, request: Request, details: dict) -> bool:
    assert step is not None and step.timeout_at is not None
    details["sleeping_until"] = step.timeout_at.isoformat()
    flow.woke(unit, step, request.note)
    return True


WAKE_STEP = Action(
    name="wake_step",
    slug="wake-step",
    label="Wake step",
    codename="wake_saga_step",
    permission_name="Can wake a sleeping step of a saga",
    explanation="The sleep ends now instead of at its time: the step completes and the "
    "saga goes on.",
    done="Step woken: the saga goes on.",
    refuse=_wake_step_refusal,
    change=_wake_step,
    refused_when="Refused (`409`) unless the step is a sleep that has not woken yet, in a "
    "saga that is `started`, `failed` or `halted`.",
    api_id="wakeStep",
    api_summary="Wake a sleeping step now",
    api_segment="wake",
    on_step=True,
)


# -- pause and resume a saga ---------------------------------------------------------------
def _pause_refusal(saga: Saga, steps: Sequence[SagaStep], _: SagaStep | None) -> str | None:
    if saga.paused:
        return f"Saga {saga.pk} is paused already."
    if saga.state in TERMINAL_STATES:
        return f"Saga {saga.pk} is {_label(saga)}; only a saga not finished can be paused."
    return None


def _pause(unit: Unit, _: SagaStep | None, request: Request, details: dict) -> bool:
    unit.saga.paused = True
    unit.save_saga_fields(["paused"])
    return True


def _resume_refusal(saga: Saga, steps: Sequence[SagaStep], _: SagaStep | None) -> str | None:
    if not saga.paused:
        return f"Saga {saga.pk} is not paused."
    return None


def _resume(unit: Unit, _: SagaStep | None, request: Request, details: dict) -> bool:
    unit.saga.paused = False
    unit.save_saga_fields(["paused"])
    details["sent_again"] = unit.release_paused()
    return True


PAUSE = Action(
    name="pause",
    slug="pause",
    label="Pause",
    codename="pause_saga",
    permission_name="Can pause and resume a saga",
    explanation="The step running now finishes; no other handler of the saga runs, and no "
    "attempt times out, until it is resumed. Outside results are still recorded.",
    done="Saga paused: its next messages wait until it is resumed.",
    refuse=_pause_refusal,
    change=_pause,
    refused_when="Refused (`409`) for a saga paused already, `completed` or `compensated`.",
    api_id="pauseSaga",
    api_summary="Pause a saga",
    bulk=Bulk(
        name="pause_sagas",
        menu="Pause selected sagas",
        title="Pause sagas",
        applies="Will be paused.",
        done=("%(count)d saga paused.", "%(count)d sagas paused."),
    ),
)
RESUME = Action(
    name="resume",
    slug="resume",
    label="Resume",
    codename="resume_saga",
    permission_name="Can resume a paused saga",
    explanation="The messages the pause held are sent again: the saga goes on where it stopped.",
    done="Saga resumed: what it held is sent again.",
    refuse=_resume_refusal,
    change=_resume,
    refused_when="Refused (`409`) for a saga that is not paused.",
    api_id="resumeSaga",
    api_summary="Resume a paused saga",
    bulk=Bulk(
        name="resume_sagas",
        menu="Resume selected sagas",
        title="Resume sagas",
        applies="Will be resumed.",
        done=("%(count)d saga resumed.", "%(count)d sagas resumed."),
    ),
)

#: Every action, in the order the pages and ``manage.py saga --help`` list them.
ACTIONS: tuple[Action, ...] = (
    COMPENSATE,
    RETRY_COMPENSATION,
    RETRY_STEP,
    SKIP_STEP,
    WAKE_STEP,
    PAUSE,
    RESUME,
)
