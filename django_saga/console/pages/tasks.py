"""The inbox and a task's page: where people answer task steps, whether or
not they may use the rest of the console.

The inbox lists a box of the user's (offered to me, claimed by me, my
groups', or every task for a team lead), newest first, fifty a page, with
each box's count. A task's page shows what the task shows and asks its
form; claim, release, delegate, complete and reject post to it and go
through the manager. A task not offered to the user is refused with 403,
whether or not it exists.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import TemplateView

from ...actions.tasks import (
    ALL,
    ANY_TASK_PERMISSION,
    BOXES,
    INBOX_PAGE,
    MINE,
    TASK_ACTS,
    box_counts,
    inbox,
)
from ...api import manager
from ...errors import SagaDefinitionError, SagaError, TaskFormInvalid, TaskNotFound
from ...models import SagaTask, TaskState, plausible
from ...tasks import DELEGATE, form_class
from ..access import ConsoleAccessMixin, can_view_console
from .common import notify

PAGE = INBOX_PAGE
#: Each box's name on the page.
BOX_LABELS = {
    MINE: "Offered to me",
    "claimed": "Claimed by me",
    "team": "My teams'",
    ALL: "Every task",
}
#: What may be posted to a task's page.
ACTS = TASK_ACTS


class TaskPages(ConsoleAccessMixin):
    """Any active user: the task, not the console, decides what they see."""

    for_console = False


class InboxView(TaskPages, TemplateView):
    """One of the user's boxes, newest first, and how many each holds."""

    template_name = "django_saga/tasks.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        counts = box_counts(user, remember=True)
        box = self.request.GET.get("box", MINE)
        if box not in counts:
            box = MINE
        found = inbox(user, box)
        before = self.request.GET.get("before", "")
        if plausible(before, 26):
            found = found.filter(pk__lt=before)
        page = list(found[: PAGE + 1])
        context.update(
            box=box,
            boxes=[(name, BOX_LABELS[name], counts[name]) for name in BOXES if name in counts],
            tasks=page[:PAGE],
            next_before=page[PAGE - 1].pk if len(page) > PAGE else "",
        )
        return context


class TaskView(TaskPages, TemplateView):
    """A task: what it shows, who has it, its form; the acts posted to it."""

    template_name = "django_saga/task.html"

    def task(self) -> SagaTask:
        try:
            return manager.task(self.kwargs["task_id"], self.request.user)
        except TaskNotFound:
            raise PermissionDenied("This task is not offered to you.") from None

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        task = kwargs.get("task") or self.task()
        user = self.request.user
        form = kwargs.get("form") or form_class(task.form, f"Task {task.title!r}")()
        name = user.get_username()
        lead = user.has_perm(ANY_TASK_PERMISSION)
        mine = task.claimed_by == name or lead
        context.update(
            task=task,
            form=form,
            offered_to=list(task.offers.values_list("kind", "name")),
            may_answer=task.live and (task.state == TaskState.OPEN or mine),
            may_claim=task.state == TaskState.OPEN,
            may_release=task.state == TaskState.CLAIMED and mine,
            may_delegate=task.live and task.step.input.get(DELEGATE, True) is not False,
            saga_link=can_view_console(user),
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        task = self.task()
        act = kwargs["act"]
        here = reverse("django_saga:task", args=[task.pk])
        reason = request.POST.get("reason", "")
        try:
            if act == "complete":
                form = form_class(task.form, f"Task {task.title!r}")(data=request.POST)
                if not form.is_valid():
                    return self._again(task, form)
                manager.complete_task(task.pk, request.POST, by=request.user, reason=reason)
            elif act == "reject":
                manager.reject_task(task.pk, by=request.user, reason=reason)
            elif act == "delegate":
                to = request.POST.get("to", "")
                manager.delegate_task(task.pk, to, by=request.user, reason=reason)
            else:
                change = manager.claim_task if act == "claim" else manager.release_task
                change(task.pk, by=request.user, reason=reason)
        except TaskFormInvalid as exc:  # the form changed its mind between two checks
            notify(request, messages.ERROR, f"{exc}: {exc.errors}")
            return HttpResponseRedirect(here)
        except (SagaError, SagaDefinitionError) as exc:
            notify(request, messages.ERROR, str(exc))
            return HttpResponseRedirect(here)
        notify(request, messages.SUCCESS, _done(act, task))
        if act in ("complete", "reject", "delegate"):
            return HttpResponseRedirect(reverse("django_saga:tasks"))
        return HttpResponseRedirect(here)

    def _again(self, task: SagaTask, form: BaseForm) -> HttpResponse:
        """The task's page with the form as submitted, its errors beside its fields."""
        return self.render_to_response(self.get_context_data(task=task, form=form))


def _done(act: str, task: SagaTask) -> str:
    verbs = {
        "claim": "Claimed",
        "release": "Released",
        "delegate": "Delegated",
        "complete": "Completed",
        "reject": "Rejected",
    }
    return f"{verbs[act]}: {task.title}."
