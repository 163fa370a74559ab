"""django-saga: sagas for Django, orchestrated over RabbitMQ.

The names below are the public API. ``manager`` and the models are imported
lazily, so ``import django_saga`` works before Django's app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .definition import Parallel, SagaDefinition, Step, parallel
from .errors import (
    BrokerUnavailable,
    DuplicateHandlerError,
    InvalidStateTransition,
    LimitExceeded,
    MalformedMessage,
    NotJSONSerializableError,
    PublishError,
    ReportTokenMismatch,
    SagaAlreadyActive,
    SagaDefinitionError,
    SagaError,
    SagaNotFound,
    StaleResult,
    StepNotWaiting,
    TaskClosed,
    TaskFormInvalid,
    TaskNotAllowed,
    TaskNotFound,
    UnknownActionError,
)
from .outcomes import FanOut, Pending, Skip
from .registry import (
    compensation_handler,
    register_compensation_handler,
    register_step_handler,
    step_handler,
)
from .retry import RetryableError, RetryPolicy, StepTimeout

if TYPE_CHECKING:
    from .api import Manager, manager
    from .children import child
    from .maps import each
    from .models import Saga, SagaState, SagaStep, StepStatus
    from .schedules.declaration import schedule
    from .sleeps import Sleep
    from .tasks import Approval, CompleteWith, FailTask, OfferTo, Task

__all__ = [
    "Approval",
    "BrokerUnavailable",
    "CompleteWith",
    "DuplicateHandlerError",
    "FailTask",
    "FanOut",
    "InvalidStateTransition",
    "LimitExceeded",
    "MalformedMessage",
    "Manager",
    "NotJSONSerializableError",
    "OfferTo",
    "Parallel",
    "Pending",
    "PublishError",
    "ReportTokenMismatch",
    "RetryPolicy",
    "RetryableError",
    "Saga",
    "SagaAlreadyActive",
    "SagaDefinition",
    "SagaDefinitionError",
    "SagaError",
    "SagaNotFound",
    "SagaState",
    "SagaStep",
    "Skip",
    "Sleep",
    "StaleResult",
    "Step",
    "StepNotWaiting",
    "StepStatus",
    "StepTimeout",
    "Task",
    "TaskClosed",
    "TaskFormInvalid",
    "TaskNotAllowed",
    "TaskNotFound",
    "UnknownActionError",
    "child",
    "compensation_handler",
    "each",
    "manager",
    "parallel",
    "register_compensation_handler",
    "register_step_handler",
    "schedule",
    "step_handler",
]

_LAZY = {
    "manager": "api",
    "Manager": "api",
    "Saga": "models",
    "SagaStep": "models",
    "SagaState": "models",
    "StepStatus": "models",
    # A sleep step reads the saga's rows when it starts.
    "Sleep": "sleeps",
    # So does a map stage, when its list is read.
    "each": "maps",
    "child": "children",
    # A task step names the models' reserved action; its forms are Django's.
    "Task": "tasks",
    "Approval": "tasks",
    "OfferTo": "tasks",
    "FailTask": "tasks",
    "CompleteWith": "tasks",
    # A schedule's models are Django's: loaded once the apps are.
    "schedule": "schedules.declaration",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'django_saga' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"django_saga.{module}"), name)
