"""People's hand on task steps: their inboxes, and claiming, releasing,
delegating, completing and rejecting a task.

A task is offered to groups, to the holders of a permission, or to one user
(``models.task``). Whoever it is offered to sees it and may claim it; once
claimed, only the claimant acts on it (or releases it). Completing submits
the task's form: its cleaned data is the step's output. Rejecting, with a
reason, fails the step. A user holding ``act_on_any_task`` sees and may act
on every task (team leads); a user the task is not offered to does not see
it at all: not in a list, not in a count, not by its id.

Each change locks the task's step, then the task, in one transaction that
also writes the saga's trail (who, why): two people submitting one task at
once get one answer recorded and one ``TaskClosed``. These are the
manager's methods; the console, the JSON API and the command line call them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Q, QuerySet

from .. import clock, flow, signals, validation
from ..client import Client
from ..errors import (
    SagaDefinitionError,
    TaskClosed,
    TaskFormInvalid,
    TaskNotAllowed,
    TaskNotFound,
    brief,
)
from ..models import (
    TASK_LIVE_STATES,
    Intervention,
    OfferKind,
    SagaTask,
    StepStatus,
    TaskOffer,
    TaskState,
    plausible,
)
from ..tasks import CANDIDATES, DELEGATE, PERMISSION, form_class
from .declaration import Actor, reason_text

#: Whoever holds it sees and may act on every task.
ANY_TASK_PERMISSION = "django_saga.act_on_any_task"
#: The inboxes: offered to me and not claimed; claimed by me; offered to my
#: groups (claimed or not); every live task (``act_on_any_task``).
MINE, CLAIMED, TEAM, ALL = "mine", "claimed", "team", "all"
BOXES = (MINE, CLAIMED, TEAM, ALL)
#: What people do to a task, as the console's pages and the JSON API name it.
TASK_ACTS = ("claim", "release", "delegate", "complete", "reject")
#: Tasks a page of a box lists (the console's and the JSON API's).
INBOX_PAGE = 50


def offered_to(user: Any) -> Q:
    """The offers that reach ``user``: their groups, their permissions, them.

    The user's group names are read once per user object (as Django caches
    their permissions): a page that counts several boxes asks once.
    """
    groups = getattr(user, "_saga_task_groups", None)
    if groups is None:
        groups = list(user.groups.values_list("name", flat=True))
        user._saga_task_groups = groups
    return (
        Q(kind=OfferKind.GROUP, name__in=groups)
        | Q(kind=OfferKind.PERMISSION, name__in=sorted(user.get_all_permissions()))
        | Q(kind=OfferKind.USER, name=user.get_username())
    )


def inbox(user: Any, box: str = MINE, using: str | None = None) -> QuerySet[SagaTask]:
    """The live tasks of one of ``user``'s boxes, newest first (``using``:
    the database; None lets the routers choose, as the console's pages do)."""
    if box not in BOXES:
        raise SagaDefinitionError(f"box must be one of {', '.join(BOXES)}, got {brief(box)}")
    live = SagaTask.objects.db_manager(using).filter(state__in=TASK_LIVE_STATES)
    name = user.get_username()
    offers = TaskOffer.objects.db_manager(using).filter(offered_to(user)).values("task_id")
    if box == CLAIMED:
        found = live.filter(state=TaskState.CLAIMED, claimed_by=name)
    elif box == MINE:
        found = live.filter(state=TaskState.OPEN, pk__in=offers.filter(open=True))
    elif box == TEAM:
        found = live.filter(pk__in=offers)
    elif user.has_perm(ANY_TASK_PERMISSION):
        found = live
    else:
        found = live.filter(Q(pk__in=offers) | Q(state=TaskState.CLAIMED, claimed_by=name))
    return found.order_by("-id")


def box_counts(user: Any, using: str | None = None, *, remember: bool = False) -> dict[str, int]:
    """How many tasks each of ``user``'s boxes holds (``all`` too for a team lead).

    Counted from the offers alone (one index range: a live task's offers
    say whether it is open). ``remember`` keeps them on the user object, for
    a request's user: the page and its frame then count once.
    """
    cached = getattr(user, "_saga_task_counts", None)
    if remember and cached is not None and cached[0] == using:
        return dict(cached[1])
    offers = TaskOffer.objects.db_manager(using).filter(offered_to(user))
    counted = offers.aggregate(
        mine=Count("task_id", distinct=True, filter=Q(open=True)),
        team=Count("task_id", distinct=True),
    )
    counts = {
        MINE: counted["mine"],
        CLAIMED: inbox(user, CLAIMED, using).count(),
        TEAM: counted["team"],
    }
    if user.has_perm(ANY_TASK_PERMISSION):
        counts[ALL] = inbox(user, ALL, using).count()
    if remember:
        user._saga_task_counts = (using, counts)
    return dict(counts)


def may_see(task: SagaTask, user: Any, using: str = "default") -> bool:
    """Whether ``user`` may see ``task``: it is (or was, until it ended) for them."""
    name = user.get_username()
    if user.has_perm(ANY_TASK_PERMISSION) or name in (task.claimed_by, task.done_by):
        return True
    if task.live:
        if TaskOffer.objects.using(using).filter(offered_to(user), task_id=task.pk).exists():
            return True
        # None for them, unless it ended since it was read (its offers go
        # with it): someone else's answer is then "closed", not "not found".
        task.refresh_from_db(using=using, fields=["state"])
        if task.live:
            return False
    # Its offers are gone: whoever its step's input offered it to.
    return _named_in_input(task, user)


def _named_in_input(task: SagaTask, user: Any) -> bool:
    data = task.step.input
    groups = set(user.groups.values_list("name", flat=True))
    permission = data.get(PERMISSION) or ""
    return bool(groups & set(data.get(CANDIDATES) or [])) or bool(
        permission and user.has_perm(permission)
    )


def cleaned(task: SagaTask, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """``data`` through the task's form: its cleaned data, as JSON would hold
    it; else ``TaskFormInvalid`` with the form's errors."""
    # A form's post (a QueryDict) goes as it is: it may hold a list per field.
    given = data if hasattr(data, "getlist") else dict(data or {})
    form = form_class(task.form, f"Task {task.title!r}")(data=given)
    if not form.is_valid():
        errors = {field: [str(e) for e in found] for field, found in form.errors.items()}
        raise TaskFormInvalid(f"The answer to task {task.title!r} does not pass its form", errors)
    encoder = DjangoJSONEncoder()
    return validation.to_json(
        {key: _plain(value, encoder) for key, value in form.cleaned_data.items()}, "the answer"
    )


def _plain(value: Any, encoder: DjangoJSONEncoder) -> Any:
    """A cleaned value JSON can hold: dates, decimals and the like as their text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item, encoder) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item, encoder) for key, item in value.items()}
    if hasattr(value, "pk"):
        return value.pk  # a model instance a ModelChoiceField gave
    return encoder.default(value)


class TaskOperator(Client):
    """A client that people answer task steps through."""

    @property
    def task_database(self) -> str:
        using = getattr(self.store, "using", None)
        if not isinstance(using, str):
            raise SagaDefinitionError("tasks live in the database: use the Django store")
        return using

    def tasks(self, user: Any, box: str = MINE, limit: int = 50) -> list[SagaTask]:
        """The newest ``limit`` tasks of ``user``'s ``box`` (``mine``,
        ``claimed``, ``team`` or ``all``)."""
        return list(inbox(_user(user), box, self.task_database)[:limit])

    def task_counts(self, user: Any) -> dict[str, int]:
        """How many tasks each of ``user``'s boxes holds (``all`` too for a team lead)."""
        return box_counts(_user(user), self.task_database)

    def task(self, task_id: str, user: Any) -> SagaTask:
        """The task ``task_id``, if ``user`` may see it; else ``TaskNotFound``
        (whether it exists is none of their business)."""
        user = _user(user)
        task = _find(task_id, self.task_database)
        if not may_see(task, user, self.task_database):
            raise TaskNotFound(f"No task {task_id!r}")
        return task

    def claim_task(self, task_id: str, *, by: Any, reason: str = "") -> SagaTask:
        """Take a task offered to ``by``: nobody else may act on it until released."""

        def claim(unit: Any, task: SagaTask, user: Any) -> dict[str, Any]:
            if task.state == TaskState.CLAIMED:
                raise TaskNotAllowed(f"Task {task.title!r} is claimed by {task.claimed_by}")
            task.state, task.claimed_by, task.claimed_at = (
                TaskState.CLAIMED,
                _name(user),
                clock.now(),
            )
            unit.save_task(task, ["state", "claimed_by", "claimed_at"])
            unit.notify_task(signals.task_assigned, task)
            return {}

        return self._change(task_id, by, reason, "task_claim", claim)

    def release_task(self, task_id: str, *, by: Any, reason: str = "") -> SagaTask:
        """Give a claimed task back to everyone it is offered to."""

        def release(unit: Any, task: SagaTask, user: Any) -> dict[str, Any]:
            if task.state != TaskState.CLAIMED:
                raise TaskNotAllowed(f"Task {task.title!r} is not claimed")
            details = {"claimed_by": task.claimed_by}
            task.state, task.claimed_by, task.claimed_at = TaskState.OPEN, "", None
            unit.save_task(task, ["state", "claimed_by", "claimed_at"])
            unit.notify_task(signals.task_assigned, task)
            return details

        return self._change(task_id, by, reason, "task_release", release, claimed_only=True)

    def delegate_task(self, task_id: str, to: Any, *, by: Any, reason: str = "") -> SagaTask:
        """Hand a task to the user ``to`` (a user or a user name): it is theirs
        alone, claimed for them, unless its step says it may not be delegated."""
        target = _user(to)

        def delegate(unit: Any, task: SagaTask, user: Any) -> dict[str, Any]:
            if unit.step.input.get(DELEGATE) is False:
                raise TaskNotAllowed(f"Task {task.title!r} may not be delegated")
            if not target.is_active:
                raise TaskNotAllowed(f"User {_name(target)} is not active")
            task.state, task.claimed_by, task.claimed_at = (
                TaskState.CLAIMED,
                _name(target),
                clock.now(),
            )
            fields = ["state", "claimed_by", "claimed_at"]
            unit.save_task(task, fields, offers=flow.offers(task, (), user=_name(target)))
            unit.notify_task(signals.task_assigned, task)
            return {"to": _name(target)}

        return self._change(task_id, by, reason, "task_delegate", delegate, required=True)

    def complete_task(
        self, task_id: str, data: Mapping[str, Any] | None = None, *, by: Any, reason: str = ""
    ) -> SagaTask:
        """Answer a task with its form's ``data``: the cleaned data becomes
        its step's output and the saga goes on. ``TaskFormInvalid`` (the
        form's errors) writes nothing."""

        def complete(unit: Any, task: SagaTask, user: Any) -> dict[str, Any]:
            output = cleaned(task, data)
            flow.answer(unit, task, StepStatus.COMPLETED, output, _name(user))
            return {"output": output}

        return self._change(task_id, by, reason, "task_complete", complete)

    def reject_task(self, task_id: str, *, by: Any, reason: str) -> SagaTask:
        """Turn a task down, saying why: its step fails, so the saga
        compensates (or, past its pivot, halts) as for any failure."""

        def reject(unit: Any, task: SagaTask, user: Any) -> dict[str, Any]:
            why = reason_text(reason, required=True)
            flow.answer(unit, task, StepStatus.FAILED, None, _name(user), f"rejected: {why}")
            return {}

        return self._change(task_id, by, reason, "task_reject", reject, required=True)

    def _change(
        self,
        task_id: str,
        by: Any,
        reason: str,
        action: str,
        change: Callable[[Any, SagaTask, Any], dict[str, Any]],
        *,
        claimed_only: bool = False,
        required: bool = False,
    ) -> SagaTask:
        """Lock the task's step, then the task; check that ``by`` may act on
        it; ``change`` it; record who and why on the saga's trail."""
        user = _user(by)
        why = reason_text(reason, required=required)
        using = self.task_database
        found = _find(task_id, using)
        if not may_see(found, user, using):
            raise TaskNotFound(f"No task {task_id!r}")
        with self.store.open_step(found.saga_id, found.step_id, fast_path=False) as unit:
            if unit is None or unit.step is None:
                raise TaskClosed(f"Task {found.title!r} has gone with its saga")
            task = unit.live_task(unit.step, found.pk)
            if task is None:
                raise TaskClosed(_ended(SagaTask.objects.using(using).get(pk=found.pk)))
            _check_may_act(task, user, claimed_only)
            details = {"task": task.pk, **change(unit, task, user)}
            entry = Intervention(
                saga_id=task.saga_id,
                action=action,
                step=unit.step.name,
                actor=_name(user),
                reason=why,
                details=details,
                at=clock.now(),
            )
            unit.record(entry, user)
        return SagaTask.objects.using(using).get(pk=task.pk)


def _check_may_act(task: SagaTask, user: Any, claimed_only: bool) -> None:
    """Offered to ``user`` and not someone else's claim (a team lead may)."""
    if user.has_perm(ANY_TASK_PERMISSION):
        return
    name = _name(user)
    if task.state == TaskState.CLAIMED and task.claimed_by != name:
        raise TaskNotAllowed(f"Task {task.title!r} is claimed by {task.claimed_by}")
    if claimed_only and task.claimed_by != name:
        raise TaskNotAllowed(f"Task {task.title!r} is not claimed by {name}")
    offers = TaskOffer.objects.using(task._state.db).filter(offered_to(user), task_id=task.pk)
    if task.claimed_by != name and not offers.exists():
        raise TaskNotAllowed(f"Task {task.title!r} is not offered to {name}")


def _ended(task: SagaTask) -> str:
    by = f" by {task.done_by}" if task.done_by else ""
    when = f" at {task.done_at:%Y-%m-%d %H:%M %Z}" if task.done_at else ""
    return f"Task {task.title!r} was {task.get_state_display()}{by}{when}: nothing more to do"


def _find(task_id: Any, using: str) -> SagaTask:
    if not plausible(task_id, 26):
        raise TaskNotFound(f"No task {brief(task_id)}")
    task = SagaTask.objects.using(using).select_related("step").filter(pk=task_id).first()
    if task is None:
        raise TaskNotFound(f"No task {task_id!r}")
    return task


def _user(user: Any) -> Any:
    """A Django user, given one or its user name (the command line's way)."""
    if isinstance(user, Actor):
        user = user.user
    if isinstance(user, str):
        found = (
            get_user_model()
            ._default_manager.filter(**{get_user_model().USERNAME_FIELD: user})
            .first()
        )
        if found is None:
            raise SagaDefinitionError(f"No user {user!r}")
        return found
    if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) is not None:
        return user
    raise SagaDefinitionError(
        f"tasks are acted on by a signed-in user or a user name, got {brief(user)}"
    )


def _name(user: Any) -> str:
    return str(user.get_username())
