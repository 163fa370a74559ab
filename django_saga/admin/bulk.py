"""Operator actions on the sagas selected in the admin's list.

Every action of the table that declares a ``Bulk`` is offered here, plus
two made of them: retrying the failed steps of each saga, and a re-drive.
Each first shows a page listing the selection, what happens to each saga
and why some are left alone, and asks why (and, for a re-drive, how fast).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import ngettext

from .. import actions
from ..actions import ACTIONS, REDRIVE_PERMISSION, RETRY_STEP, Action
from ..api import manager
from ..console.formatting import format_duration
from ..console.forms import RateForm, ReasonForm
from ..errors import InvalidStateTransition, SagaDefinitionError, SagaNotFound
from ..models import Saga, SagaStep, StepStatus

#: Sagas one action takes at most; more is a job for ``manage.py saga redrive``.
MAX_SELECTED = 1000
#: Sagas the confirmation page lists (the action applies to the whole selection).
PREVIEW_ROWS = 100


@dataclass(frozen=True)
class ConfirmPage:
    """What the confirmation page of an action on the selected sagas says."""

    #: The admin action's name (what the page posts back as ``action``).
    name: str
    title: str
    explanation: str
    #: What the page says beside a saga the action applies to.
    applies: str
    #: Why the action does not apply to a saga, given its pivot and failed steps.
    refusal: Callable[[Saga, Sequence[SagaStep]], str | None]
    form: type[ReasonForm] = ReasonForm


def _page_of(action: Action) -> ConfirmPage:
    assert action.bulk is not None
    return ConfirmPage(
        action.bulk.name,
        action.bulk.title,
        " ".join(filter(None, (action.explanation, action.bulk.warning))),
        action.bulk.applies,
        lambda saga, steps: action.refusal(saga, steps),
    )


#: The table's actions offered on a selection, by admin action name.
OFFERED = {action.bulk.name: action for action in ACTIONS if action.bulk is not None}

RETRY_FAILED_STEPS = ConfirmPage(
    "retry_failed_steps",
    "Retry the failed steps of sagas",
    "Each failed step runs again with its own input and gets its whole retry budget "
    "back; the saga goes forward once it succeeds. To retry a step with another input, "
    "or to skip it, use the saga's page in the console.",
    "Its failed steps will run again.",
    actions.failed_steps_refusal,
)
REDRIVE_SAGAS = ConfirmPage(
    "redrive_sagas",
    "Re-drive sagas",
    "Each saga gets what fits its state: its failed steps retried (failed, halted) or its "
    "failed compensations retried (compensation failed), with their own input. The "
    "sagas are sent one after another at the rate below, so that the service that "
    "failed is not swamped; the re-drive's id names it on every saga's trail.",
    "Will be re-driven.",
    lambda saga, steps: actions.failed_steps_refusal(saga, steps, compensations=True),
    RateForm,
)
PAGES = {
    **{name: _page_of(action) for name, action in OFFERED.items()},
    RETRY_FAILED_STEPS.name: RETRY_FAILED_STEPS,
    REDRIVE_SAGAS.name: REDRIVE_SAGAS,
}


def deciding_steps(saga_ids: Sequence[str]) -> dict[str, list[SagaStep]]:
    """The steps that decide what applies to each saga (its pivot, its failed
    steps), in one query for all of them."""
    found: dict[str, list[SagaStep]] = {saga_id: [] for saga_id in saga_ids}
    rows = SagaStep.objects.filter(
        Q(pivot=True) | Q(status=StepStatus.FAILED), saga_id__in=saga_ids
    ).order_by("saga_id", "position")
    for step in rows:
        found[step.saga_id].append(step)
    return found


def _offered(action: Action) -> Callable[..., TemplateResponse | None]:
    """The admin action running ``action`` on each selected saga."""
    assert action.bulk is not None
    bulk = action.bulk

    def run(
        model_admin: SelectionActions, request: HttpRequest, queryset: QuerySet[Saga]
    ) -> TemplateResponse | None:
        def work(request: HttpRequest, ids: list[str], data: dict[str, Any]) -> None:
            model_admin.act_on_each(request, ids, action, data["reason"])

        return model_admin.ask_then(request, queryset, PAGES[bulk.name], work)

    run.__name__ = bulk.name
    return admin.action(description=bulk.menu)(run)


class SelectionActions(admin.ModelAdmin):
    """The saga list's operator actions (mixed into ``SagaAdmin``)."""

    actions = [
        *(_offered(action) for action in OFFERED.values()),
        RETRY_FAILED_STEPS.name,
        REDRIVE_SAGAS.name,
    ]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        offered = super().get_actions(request)
        # Deleting sagas in bulk could remove running ones under an engine.
        offered.pop("delete_selected", None)
        for name, action in OFFERED.items():
            if not action.permitted(request.user):
                offered.pop(name, None)
        return offered

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # An operator action posted by someone without its permission is
        # refused outright, not dropped as "no action selected".
        chosen = request.POST.get("action") if request.method == "POST" else None
        if chosen in PAGES and chosen not in self.get_actions(request):
            raise PermissionDenied(f"You may not run {chosen}.")
        return super().changelist_view(request, extra_context)

    def has_retry_step_permission(self, request: HttpRequest) -> bool:
        return RETRY_STEP.permitted(request.user)

    def has_redrive_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(REDRIVE_PERMISSION))

    @admin.action(
        description="Retry the failed steps of selected sagas", permissions=["retry_step"]
    )
    def retry_failed_steps(
        self, request: HttpRequest, queryset: QuerySet[Saga]
    ) -> TemplateResponse | None:
        return self.ask_then(request, queryset, RETRY_FAILED_STEPS, self._retry_failed_steps)

    @admin.action(description="Re-drive selected sagas", permissions=["redrive"])
    def redrive_sagas(
        self, request: HttpRequest, queryset: QuerySet[Saga]
    ) -> TemplateResponse | None:
        return self.ask_then(request, queryset, REDRIVE_SAGAS, self._redrive)

    def ask_then(
        self,
        request: HttpRequest,
        queryset: QuerySet[Saga],
        page: ConfirmPage,
        work: Callable[[HttpRequest, list[str], dict[str, Any]], None],
    ) -> TemplateResponse | None:
        """The confirmation page, or, once it is posted back valid, the work."""
        # By id, so by creation: oldest first, and a walk of the primary key
        # even when "select all" took the whole filtered list.
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_SELECTED + 1])
        if len(ids) > MAX_SELECTED:
            self.message_user(
                request,
                f"More than {MAX_SELECTED:,} sagas are selected, and an action here takes "
                f"at most {MAX_SELECTED:,}: filter the list, or use `manage.py saga` on a "
                "server. Nothing was changed.",
                messages.ERROR,
            )
            return None
        form = page.form(request.POST if request.POST.get("post") else None)
        if form.is_valid():
            work(request, ids, form.cleaned_data)
            return None
        return self._confirmation_page(request, page, ids, form)

    def _confirmation_page(
        self, request: HttpRequest, page: ConfirmPage, ids: list[str], form: ReasonForm
    ) -> TemplateResponse:
        shown = ids[:PREVIEW_ROWS]
        steps = deciding_steps(shown)
        sagas = Saga.objects.filter(pk__in=shown).order_by("pk")
        rows = [(saga, page.refusal(saga, steps[saga.pk])) for saga in sagas]
        context = {
            **self.admin_site.each_context(request),
            "title": f"{page.title}?",
            "opts": self.opts,
            "action": page,
            "rows": rows,
            "refused": sum(1 for _, why in rows if why is not None),
            "more": len(ids) - len(shown),
            "selected": ids,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/django_saga/saga/action_confirmation.html", context)

    def act_on_each(
        self, request: HttpRequest, ids: list[str], action: Action, reason: str
    ) -> None:
        """Run ``action`` on each saga; a saga it does not apply to is named with why."""
        assert action.bulk is not None
        done = 0
        for saga_id in ids:
            try:
                manager.act(action, saga_id, by=request.user, reason=reason)
            except (InvalidStateTransition, SagaNotFound) as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                done += 1
        self._succeeded(request, done, ngettext(*action.bulk.done, done))

    def _retry_failed_steps(
        self, request: HttpRequest, ids: list[str], data: dict[str, Any]
    ) -> None:
        sagas = Saga.objects.in_bulk(ids)
        steps = deciding_steps(ids)
        done = 0
        for saga_id in ids:
            saga = sagas.get(saga_id)
            why = (
                f"No saga with id {saga_id!r}"
                if saga is None
                else actions.failed_steps_refusal(saga, steps[saga_id])
            )
            if why is not None:
                self.message_user(request, why, messages.WARNING)
                continue
            failed = [s.name for s in steps[saga_id] if s.status == StepStatus.FAILED]
            try:
                for name in failed:
                    manager.retry_step(saga_id, name, by=request.user, reason=data["reason"])
            except (InvalidStateTransition, SagaNotFound) as exc:
                # Changed since it was read: the manager checked again under its lock.
                self.message_user(request, str(exc), messages.WARNING)
            else:
                done += 1
        text = ngettext(
            "Failed steps sent again for %(count)d saga.",
            "Failed steps sent again for %(count)d sagas.",
            done,
        )
        self._succeeded(request, done, text)

    def _redrive(self, request: HttpRequest, ids: list[str], data: dict[str, Any]) -> None:
        try:
            redrive = manager.redrive(
                ids, rate=data["rate"], by=request.user, reason=data["reason"]
            )
        except SagaDefinitionError as exc:  # a rate too slow for so many sagas
            self.message_user(request, f"Nothing was re-driven: {exc}", messages.ERROR)
            return
        for _, why in redrive.refused:
            self.message_user(request, why, messages.WARNING)
        count = len(redrive.scheduled)
        if not count:
            return
        follow = reverse("admin:django_saga_intervention_changelist")
        last = (
            f"the last one goes out in {format_duration(timedelta(seconds=redrive.seconds))}"
            if redrive.seconds
            else "it goes out at once"
        )
        self.message_user(
            request,
            format_html(
                'Re-drive {}: {} sent again at {} a second; {}. <a href="{}?{}">Follow it</a>.',
                redrive.batch,
                ngettext("%(count)d saga", "%(count)d sagas", count) % {"count": count},
                f"{redrive.rate:g}",
                last,
                follow,
                urlencode({"batch": redrive.batch}),
            ),
            messages.SUCCESS,
        )

    def _succeeded(self, request: HttpRequest, done: int, text: str) -> None:
        if done:
            self.message_user(request, text % {"count": done}, messages.SUCCESS)
