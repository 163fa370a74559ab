"""The tasks' JSON endpoints: a shop's own front end or a mobile app shows
the inbox and answers tasks through them, with a session or an API token.

Any active user may call them (not only who may use the console); a task
not offered to the caller answers 403 ``not_offered``, whether or not it
exists. ``GET api/tasks/?box=mine|claimed|team|all&before=ID`` lists a
box, newest first, fifty at a time, with every box's count; ``GET
api/tasks/ID/`` is one task with its form's fields; ``POST`` to
``claim/``, ``release/`` (``{"reason"}``, optional), ``delegate/``
(``{"to", "reason"}``), ``complete/`` (``{"data": {...}, "reason"}``) and
``reject/`` (``{"reason"}``) acts and answers with the task: 400
``invalid_form`` with the form's ``errors`` by field, 403 ``not_allowed``
(claimed by someone else, not delegable), 409 ``task_closed`` once it has
ended.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.views import View

from ..actions.tasks import BOXES, INBOX_PAGE, MINE, box_counts, inbox
from ..api import manager
from ..errors import (
    SagaDefinitionError,
    TaskClosed,
    TaskFormInvalid,
    TaskNotAllowed,
    TaskNotFound,
)
from ..models import SagaTask, plausible
from ..tasks import form_class
from .access import JsonAccessMixin, json_error
from .json_api import BadBody, BodyTooLarge, json_body

PAGE = INBOX_PAGE
#: What each act's body may hold (``TASK_ACTS``).
BODIES = {
    "claim": ("reason",),
    "release": ("reason",),
    "delegate": ("to", "reason"),
    "complete": ("data", "reason"),
    "reject": ("reason",),
}
NOT_OFFERED = "This task is not offered to you."


def task_json(task: SagaTask) -> dict[str, Any]:
    """A task as the endpoints give it: what it shows and asks, who has it."""
    return {
        "id": task.pk,
        "title": task.title,
        "state": task.state,
        "shown": task.shown,
        "due_at": task.due_at,
        "overdue": task.overdue,
        "escalations": task.escalations,
        "claimed_by": task.claimed_by,
        "created_at": task.created_at,
        "done_by": task.done_by,
        "done_at": task.done_at,
        "reason": task.reason,
        "offered_to": [{"kind": offer.kind, "name": offer.name} for offer in task.offers.all()],
        "form": form_json(task),
        "url": reverse("django_saga:api-task", args=[task.pk]),
    }


def form_json(task: SagaTask) -> list[dict[str, Any]]:
    """The fields of the task's form, enough for a front end to draw it."""
    return [dict(field) for field in _fields_of(task.form)]


@lru_cache(maxsize=256)
def _fields_of(path: str) -> tuple[dict[str, Any], ...]:
    """A form class's fields (the same for every task that asks it)."""
    form = form_class(path, f"The form {path!r}")()
    fields = []
    for name, field in form.fields.items():
        choices = getattr(field, "choices", None)
        fields.append(
            {
                "name": name,
                "label": str(field.label or name.replace("_", " ").capitalize()),
                "type": type(field).__name__,
                "required": field.required,
                "help_text": str(field.help_text),
                "choices": [[str(v), str(label)] for v, label in choices] if choices else None,
            }
        )
    return tuple(fields)


class TaskJsonAccess(JsonAccessMixin):
    """Any active user: the task decides what they see."""

    for_console = False


class TaskListJsonView(TaskJsonAccess, View):
    """GET: one of the caller's boxes, and how many each holds."""

    def get(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        counts = box_counts(user)
        box = request.GET.get("box", MINE)
        if box not in counts:
            allowed = ", ".join(name for name in BOXES if name in counts)
            return json_error(400, "bad_request", f"box must be one of {allowed}.")
        found = inbox(user, box)
        before = request.GET.get("before", "")
        if before:
            if not plausible(before, 26):
                return json_error(400, "bad_request", "before must be a task's id.")
            found = found.filter(pk__lt=before)
        page = list(found.prefetch_related("offers")[: PAGE + 1])
        more = len(page) > PAGE
        query = urlencode({"box": box, "before": page[PAGE - 1].pk}) if more else ""
        return JsonResponse(
            {
                "box": box,
                "counts": counts,
                "results": [task_json(task) for task in page[:PAGE]],
                "next": f"{reverse('django_saga:api-tasks')}?{query}" if more else None,
            }
        )


class TaskJsonView(TaskJsonAccess, View):
    """GET: one task, with its form's fields."""

    def get(self, request: HttpRequest, task_id: str) -> HttpResponse:
        try:
            return JsonResponse(task_json(manager.task(task_id, request.user)))
        except TaskNotFound:
            return json_error(403, "not_offered", NOT_OFFERED)


class TaskActJsonView(TaskJsonAccess, View):
    """POST: claim, release, delegate, complete or reject (``act``) a task."""

    act = ""

    def post(self, request: HttpRequest, task_id: str) -> HttpResponse:
        try:
            body = json_body(request, BODIES[self.act])
        except BodyTooLarge as exc:
            return json_error(413, "too_large", str(exc))
        except BadBody as exc:
            return json_error(400, "bad_request", str(exc))
        by, reason = request.user, body.get("reason", "")
        try:
            if self.act == "complete":
                data = body.get("data", {})
                if not isinstance(data, dict):
                    raise SagaDefinitionError("data must be a JSON object of the form's fields")
                task = manager.complete_task(task_id, data, by=by, reason=reason)
            elif self.act == "reject":
                task = manager.reject_task(task_id, by=by, reason=reason)
            elif self.act == "delegate":
                to = body.get("to")
                if not isinstance(to, str) or not to:
                    raise SagaDefinitionError("to must name the user to hand the task to")
                task = manager.delegate_task(task_id, to, by=by, reason=reason)
            else:
                change = manager.claim_task if self.act == "claim" else manager.release_task
                task = change(task_id, by=by, reason=reason)
        except TaskNotFound:
            return json_error(403, "not_offered", NOT_OFFERED)
        except TaskNotAllowed as exc:
            return json_error(403, "not_allowed", str(exc))
        except TaskClosed as exc:
            return json_error(409, "task_closed", str(exc))
        except TaskFormInvalid as exc:
            return json_error(400, "invalid_form", str(exc), errors=exc.errors)
        except SagaDefinitionError as exc:
            return json_error(400, "bad_request", str(exc))
        return JsonResponse(task_json(task))
