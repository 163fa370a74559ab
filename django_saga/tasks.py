"""Task steps: a person answers a form instead of a handler running.

    Task("approve_refund", form=RefundApprovalForm, candidates=["refund-managers"],
         permission="shop.approve_refund", due=timedelta(hours=4),
         on_due=OfferTo("refund-directors"), show={"Amount": "context.amount"})

When the saga reaches the step, the engine writes a task for its attempt,
offered to the users of the candidate groups and to the holders of the
permission, and the step waits (no thread, no timeout of its own). A person
who may act on it completes it by submitting the form: the cleaned data is
the step's output and the saga goes on. Rejecting it, with a reason, fails
the step: the saga compensates, or, past its pivot, halts. ``Approval`` is
the yes/no case. The task shows only what ``show`` names of the saga.

Past ``due``, the sweeper escalates it as ``on_due`` says: offered to other
groups (``OfferTo``), failed (``FailTask``) or completed with a default
(``CompleteWith``); without ``on_due`` it is only marked due. Everything is
kept in the step's input as JSON, so a task needs no code to be read back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms
from django.utils.module_loading import import_string

from . import validation
from .errors import SagaDefinitionError, brief
from .models import TASK_ACTION
from .references import reference
from .steps import Step

#: The keys of a task step's input.
TITLE = "title"
FORM = "form"
CANDIDATES = "candidates"
PERMISSION = "permission"
DUE = "due_seconds"
ON_DUE = "on_due"
SHOW = "show"
DELEGATE = "delegate"
_KEYS = (TITLE, FORM, CANDIDATES, PERMISSION, DUE, ON_DUE, SHOW, DELEGATE)

#: The kinds of escalation, as ``on_due`` keeps them.
OFFER = "offer"
FAIL = "fail"
COMPLETE = "complete"

#: The longest group name (Django's ``Group.name``).
GROUP_MAX_CHARS = 150
_PERMISSION = re.compile(r"^[\w.-]+\.[\w-]+\Z")


class ApprovalForm(forms.Form):
    """The form of an ``Approval``: approving may say why; rejecting must."""

    comment = forms.CharField(
        label="Comment", required=False, max_length=2000, widget=forms.Textarea({"rows": 3})
    )


class DoneForm(forms.Form):
    """The form of a task that asks nothing but that it be done."""


@dataclass(frozen=True)
class OfferTo:
    """Past due, offer the task to these groups instead (claimed or not),
    due again after ``due`` if given."""

    groups: tuple[str, ...]
    due: timedelta | float | None = None

    def __init__(self, *groups: str, due: timedelta | float | None = None) -> None:
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "due", due)


@dataclass(frozen=True)
class FailTask:
    """Past due, fail the step: the saga compensates as for any failure."""

    reason: str = "nobody answered in time"


@dataclass(frozen=True)
class CompleteWith:
    """Past due, complete the task with ``data`` as its output."""

    data: Mapping[str, Any]


Escalation = OfferTo | FailTask | CompleteWith


def Task(
    name: str,
    *,
    form: type[forms.Form] | str | None = None,
    title: str = "",
    candidates: Iterable[str] = (),
    permission: str = "",
    due: timedelta | float | None = None,
    on_due: Escalation | None = None,
    show: Mapping[str, str] | Iterable[str] = (),
    delegate: bool = True,
    compensation: str = "",
    pivot: bool = False,
) -> Step:
    """A step a person completes by submitting ``form`` (any Django form;
    none: a form with no field, "done").

    It is offered to the users of the ``candidates`` groups and to the
    holders of ``permission`` (at least one of them); ``show`` names what of
    the saga the task shows (references such as ``"context.amount"`` or
    ``"quote.total"``, or a mapping from label to reference); ``delegate``
    lets whoever holds it hand it to a named user. ``due`` (a ``timedelta``
    or seconds from when the task is made) and ``on_due`` as in the module
    docstring; ``compensation`` undoes a completed task's effect, like any
    step's.
    """
    for given, what in ((candidates, "candidates"), (show, "show")):
        if isinstance(given, str):
            raise SagaDefinitionError(
                f"Task {brief(name)} {what} must be a list, not the string {brief(given)}"
            )
    path = form if isinstance(form, str) or form is None else _path_of(form)
    due_seconds = due.total_seconds() if isinstance(due, timedelta) else due
    task_input: dict[str, Any] = {
        TITLE: title or name.replace("_", " ").capitalize(),
        FORM: path or f"{DoneForm.__module__}.{DoneForm.__qualname__}",
        CANDIDATES: list(candidates),
        PERMISSION: permission,
        DUE: due_seconds,
        ON_DUE: _escalation(on_due),
        SHOW: dict(show) if isinstance(show, Mapping) else {ref: ref for ref in show},
        DELEGATE: delegate,
    }
    step = Step(name, TASK_ACTION, compensation, task_input, pivot=pivot)
    check(step)
    return step


def Approval(name: str, **options: Any) -> Step:
    """A yes/no task: completing it approves (output ``{"comment": ...}``),
    rejecting it fails the step. Takes ``Task``'s options but ``form``."""
    if "form" in options:
        raise SagaDefinitionError(f"Approval {brief(name)} has its own form: give no form")
    return Task(name, form=ApprovalForm, **options)


def _path_of(form: type[forms.Form]) -> str:
    if not (isinstance(form, type) and issubclass(form, forms.BaseForm)):
        raise SagaDefinitionError(f"a task's form must be a Django form class, got {brief(form)}")
    return f"{form.__module__}.{form.__qualname__}"


def _escalation(on_due: Escalation | None) -> dict[str, Any] | None:
    if on_due is None:
        return None
    if isinstance(on_due, OfferTo):
        due = on_due.due.total_seconds() if isinstance(on_due.due, timedelta) else on_due.due
        return {OFFER: list(on_due.groups), DUE: due}
    if isinstance(on_due, FailTask):
        return {FAIL: on_due.reason}
    if isinstance(on_due, CompleteWith):
        return {COMPLETE: dict(on_due.data)}
    raise SagaDefinitionError(
        f"on_due must be OfferTo(...), FailTask(...) or CompleteWith(...), got {brief(on_due)}"
    )


def form_class(path: str, where: str) -> type[forms.BaseForm]:
    """The form class a task's input names; raises naming what is wrong."""
    try:
        found = import_string(path)
    except ImportError as exc:
        raise SagaDefinitionError(f"{where}: its form {path!r} cannot be imported: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, forms.BaseForm)):
        raise SagaDefinitionError(f"{where}: {path!r} is not a Django form class")
    return found


def check(step: Step) -> None:
    """Refuse a task step that cannot be offered, shown or answered, naming why."""
    where = f"Task {brief(step.name)}"
    data = step.input
    unknown = set(data) - set(_KEYS)
    if unknown or FORM not in data:
        raise SagaDefinitionError(
            f"{where} has an input of {', '.join(_KEYS)}, got {', '.join(sorted(map(str, data)))}"
        )
    validation.text(data.get(TITLE, ""), f"{where} title", 200, plain=validation.LABEL)
    form_class(data[FORM], where)
    candidates = data.get(CANDIDATES) or []
    if not isinstance(candidates, list) or not all(_group(g) for g in candidates):
        raise SagaDefinitionError(
            f"{where} candidates must be group names, got {brief(candidates)}"
        )
    permission = data.get(PERMISSION) or ""
    if permission and not (isinstance(permission, str) and _PERMISSION.match(permission)):
        raise SagaDefinitionError(
            f"{where} permission must be 'app_label.codename', got {brief(permission)}"
        )
    if not candidates and not permission:
        raise SagaDefinitionError(f"{where} is offered to nobody: give candidates or a permission")
    due = data.get(DUE)
    if due is not None:
        validation.seconds(due, f"{where} due", allow_none=False)
    _check_escalation(data.get(ON_DUE), due, where)
    shown = data.get(SHOW) or {}
    if not isinstance(shown, dict):
        raise SagaDefinitionError(f"{where} show must name references, got {brief(shown)}")
    for label, ref in shown.items():
        validation.text(label, f"{where} show label", 200, plain=validation.LABEL)
        reference(ref, f"{where} show")
    if not isinstance(data.get(DELEGATE, True), bool):
        raise SagaDefinitionError(f"{where} delegate must be True or False")


def _group(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= GROUP_MAX_CHARS


def _check_escalation(on_due: Any, due: Any, where: str) -> None:
    if on_due is None:
        return
    if due is None:
        raise SagaDefinitionError(f"{where} escalates on_due but has no due time")
    if not isinstance(on_due, dict) or len(set(on_due) & {OFFER, FAIL, COMPLETE}) != 1:
        raise SagaDefinitionError(f"{where} on_due is not an escalation: {brief(on_due)}")
    if OFFER in on_due:
        groups = on_due[OFFER]
        if not isinstance(groups, list) or not groups or not all(_group(g) for g in groups):
            raise SagaDefinitionError(
                f"{where} OfferTo needs one group name or more, got {brief(groups)}"
            )
        if on_due.get(DUE) is not None:
            validation.seconds(on_due[DUE], f"{where} OfferTo due", allow_none=False)
    elif FAIL in on_due:
        validation.text(on_due[FAIL], f"{where} FailTask reason", validation.ERROR_MAX_CHARS)
    else:
        if not isinstance(on_due[COMPLETE], dict):
            raise SagaDefinitionError(f"{where} CompleteWith needs a dict of data")
        validation.to_json(on_due[COMPLETE], f"{where} CompleteWith data")
