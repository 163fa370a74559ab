"""The step language: what a caller hands to ``manager.start()``.

Steps, parallel stages, and definitions spliced into a step list, checked
and laid out by stage. ``definition.SagaDefinition`` adds ``start()`` to the
``BaseDefinition`` here; the client API reads definitions through this
module, so that it needs nothing above it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from django.utils.module_loading import import_string

from . import validation
from .errors import SagaDefinitionError


@dataclass(frozen=True)
class Step:
    """One step of a saga as the caller declares it.

    ``Step("charge_payment", "payment.charge", "payment.refund", {"amount": 30})``:
    the step's name, the action whose step handler does its work, the action
    whose compensation handler undoes it, and the input both handlers read
    as ``step.input``. A dict with the same keys declares a step too.
    """

    name: str
    """Unique within the saga; operators and outside results name the step by it."""

    action: str
    """The action name a step handler is registered under."""

    compensation: str = ""
    """The action name of the compensation handler that undoes the step;
    ``""`` when there is nothing to undo (the step is then marked compensated
    without a message)."""

    input: Mapping[str, Any] = field(default_factory=dict)
    """The step's input, a JSON object (``step.input`` in its handlers)."""

    timeout: float | None = None
    """Seconds one attempt may take; None takes the handler's, else
    ``SAGA['STEP_TIMEOUT']``."""

    pivot: bool = False
    """The saga's point of no return (at most one per saga, alone in its
    stage, with no compensation). Before it completes, a failure compensates;
    after it, the steps that follow are retried forward and, when their
    retries run out, the saga halts for an operator."""


@dataclass(frozen=True)
class Parallel:
    """A stage: steps dispatched together; the next stage waits for all of them.

    Made by ``parallel(...)``. The next stage starts once each of its steps
    has completed or been skipped. If one of them fails, the saga
    compensates; the others still running are left to finish or time out,
    and the completed ones are then undone together. Stages do not nest.
    """

    steps: tuple[Step | Mapping[str, Any], ...]
    """The stage's steps, in their declared order."""


def parallel(*steps: Step | Mapping[str, Any]) -> Parallel:
    """Group ``steps`` into one stage of a saga's step list::

        manager.start("order", [
            Step("create_order", "orders.create", "orders.cancel"),
            parallel(
                Step("reserve", "inventory.reserve", "inventory.release"),
                Step("validate_address", "shipping.validate"),
            ),
            Step("charge", "payment.charge", "payment.refund"),
        ])

    A plain step in the list is a stage of its own.
    """
    return Parallel(steps)


#: What a step list may hold: steps, stages, and definitions to splice in.
Declared = Union[Step, Mapping[str, Any], Parallel, "BaseDefinition"]


@dataclass(frozen=True)
class StagedStep:
    """A validated step with the stage it runs in (0, 1, ... in order)."""

    stage: int
    step: Step


def normalise_steps(steps: Iterable[Declared]) -> list[StagedStep]:
    """Validate a step list and return its steps, with JSON inputs, by stage.

    A plain step is a stage of its own; ``parallel(...)`` makes one stage of
    several; a definition contributes its own stages in place.
    """
    if isinstance(steps, str | bytes | Mapping) or not isinstance(steps, Iterable):
        raise SagaDefinitionError(
            f"steps must be a list of Step objects, got {type(steps).__name__}"
        )
    stages: list[list[Step | Mapping[str, Any]]] = []
    _collect(steps, stages, set())
    result: list[StagedStep] = []
    seen: set[str] = set()
    for number, stage in enumerate(stages):
        for raw in stage:
            step = _as_step(raw, len(result))
            if step.name in seen:
                raise SagaDefinitionError(
                    f"Duplicate step name {step.name!r}: step names must be unique"
                )
            seen.add(step.name)
            if not isinstance(step.input, Mapping):
                raise SagaDefinitionError(
                    f"Step {step.name!r} input must be a dict, got {type(step.input).__name__}"
                )
            data = validation.to_json(dict(step.input), f"Step {step.name!r} input")
            step = Step(step.name, step.action, step.compensation, data, step.timeout, step.pivot)
            result.append(StagedStep(number, step))
    if not result:
        raise SagaDefinitionError("A saga needs at least one step")
    _check_pivot(result)
    return result


def _check_pivot(steps: list[StagedStep]) -> None:
    """Refuse a pivot declaration whose compensations could never run."""
    pivots = [staged for staged in steps if staged.step.pivot]
    if not pivots:
        return
    if len(pivots) > 1:
        names = ", ".join(repr(staged.step.name) for staged in pivots)
        raise SagaDefinitionError(
            f"A saga has at most one pivot step, got {len(pivots)}: {names}. The pivot is "
            "the point of no return; a second one would have no meaning."
        )
    pivot = pivots[0]
    name = pivot.step.name
    if pivot.step.compensation:
        raise SagaDefinitionError(
            f"Pivot step {name!r} declares compensation {pivot.step.compensation!r}, which "
            "could never run: a failed pivot compensates only the steps before it, and a "
            "completed one is never undone. Leave its compensation empty."
        )
    beside = [s.step.name for s in steps if s.stage == pivot.stage and s is not pivot]
    if beside:
        raise SagaDefinitionError(
            f"Pivot step {name!r} shares its parallel stage with {', '.join(map(repr, beside))}:"
            " a pivot must be a stage of its own, so that the point of no return is one step."
        )
    for staged in steps:
        if staged.stage > pivot.stage and staged.step.compensation:
            # ``models.CHILD_ACTION``: a child step's compensation is its policy.
            fix = (
                "Declare it with parent_close='abandon'."
                if staged.step.compensation == "saga.child"
                else "Leave it empty."
            )
            raise SagaDefinitionError(
                f"Step {staged.step.name!r} comes after pivot step {name!r} and declares "
                f"compensation {staged.step.compensation!r}, which could never run: steps "
                f"after the pivot are retried forward, never compensated. {fix}"
            )


def _collect(
    items: Iterable[Declared],
    stages: list[list[Step | Mapping[str, Any]]],
    composing: set[type],
) -> None:
    """Append the stages ``items`` declare to ``stages``."""
    for item in items:
        if isinstance(item, Parallel):
            if not item.steps:
                raise SagaDefinitionError("parallel() needs at least one step")
            for inner in item.steps:
                if not isinstance(inner, Step | Mapping):
                    raise SagaDefinitionError(
                        "parallel() takes steps only, got "
                        f"{type(inner).__name__}: stages cannot be nested"
                    )
            stages.append(list(item.steps))
        elif isinstance(item, BaseDefinition):
            kind = type(item)
            if kind in composing:
                raise SagaDefinitionError(f"{kind.__name__} includes itself")
            _collect(item.steps(), stages, composing | {kind})
        else:
            stages.append([item])


def _as_step(raw: Step | Mapping[str, Any], index: int) -> Step:
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"name", "action", "compensation", "input", "timeout", "pivot"}
        if unknown:
            raise SagaDefinitionError(
                f"Step #{index + 1} has unknown keys: {', '.join(sorted(map(repr, unknown)))}"
                " (known: name, action, compensation, input, timeout, pivot)"
            )
        try:
            raw = Step(**raw)
        except TypeError as exc:
            raise SagaDefinitionError(f"Step #{index + 1}: {exc}") from exc
    if not isinstance(raw, Step):
        raise SagaDefinitionError(f"Step #{index + 1} must be a Step, got {type(raw).__name__}")
    name = validation.text(
        raw.name, f"Step #{index + 1} name", validation.NAME_MAX_CHARS, plain=validation.LABEL
    )
    where = f"Step #{index + 1} ({name!r})"
    validation.text(
        raw.action, f"{where} action", validation.NAME_MAX_CHARS, plain=validation.LABEL
    )
    validation.text(
        raw.compensation,
        f"{where} compensation (an action name, or '' for none)",
        validation.NAME_MAX_CHARS,
        blank=True,
        plain=validation.LABEL,
    )
    validation.seconds(raw.timeout, f"{where} timeout")
    if not isinstance(raw.pivot, bool):
        raise SagaDefinitionError(f"{where} pivot must be True or False, got {raw.pivot!r}")
    return raw


class BaseDefinition:
    """A saga declared once and started many times, without the means to start
    itself: ``django_saga.SagaDefinition`` is the class to subclass."""

    #: The saga's name; the class name if left empty.
    name: ClassVar[str] = ""
    #: Bump it when the steps change meaning.
    version: ClassVar[int | str] = 1
    #: ``"normal"`` or ``"high"``: a high-priority saga's messages are taken
    #: first. An instance may say otherwise (a schedule's own priority does).
    priority: str = "normal"

    def __init__(self, **params: Any) -> None:
        self.params = params

    def steps(self) -> Sequence[Declared]:
        """The step list for ``self.params``: steps, ``parallel(...)``, other definitions."""
        raise NotImplementedError(f"{type(self).__name__} must define steps()")

    def context(self) -> Mapping[str, Any]:
        """The saga's context: the parameters, unless a subclass says otherwise."""
        return self.params

    def key(self) -> str:
        """The business key (an order number, say): at most one unfinished saga
        of this name has it. ``""`` (no key) by default; a subclass returns one
        from ``self.params``."""
        return ""

    @classmethod
    def saga_name(cls) -> str:
        """The name the sagas get: ``name``, else the class's name."""
        return cls.name or cls.__name__

    @classmethod
    def path(cls) -> str:
        """The class's dotted path, recorded as ``saga.definition``."""
        return f"{cls.__module__}.{cls.__qualname__}"


def build_definition(path: str, params: Mapping[str, Any], where: str) -> BaseDefinition:
    """The definition class ``path`` names, made with ``params`` (a schedule's
    saga, a child step's); raises ``SagaDefinitionError`` saying what
    ``where`` names wrong."""
    kind = definition_class(path, where)
    try:
        return kind(**params)
    except TypeError as exc:
        raise SagaDefinitionError(f"{where} cannot make {path} with its params: {exc}") from exc


def definition_class(path: str, where: str) -> type[BaseDefinition]:
    """The definition class ``path`` names (see ``build_definition``)."""
    try:
        kind = import_string(path)
    except ImportError as exc:
        raise SagaDefinitionError(
            f"{where} names {path!r}, which cannot be imported: {exc}"
        ) from exc
    if not (isinstance(kind, type) and issubclass(kind, BaseDefinition)):
        raise SagaDefinitionError(f"{where} names {path!r}, which is not a SagaDefinition")
    return kind
