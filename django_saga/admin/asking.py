"""Admin actions that ask why before they act on each selected row: the
confirmation page lists the selection and takes the reason that goes on
the trail; a row the act refuses is named in a warning, the others done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from ..console.forms import ReasonForm
from ..errors import InvalidStateTransition, SagaError

CONFIRMATION = "admin/django_saga/action_confirmation.html"


def asks_why(
    name: str,
    title: str,
    explanation: str,
    permission: str,
    label: Callable[[Any], str],
    act: Callable[..., Any],
    noun: str,
) -> Callable[..., TemplateResponse | None]:
    """An admin action ``name`` that asks why, then calls ``act(row, by=,
    reason=)`` on each selected row (``label(row)`` names it on the page;
    ``noun`` names the rows in the result message)."""

    def run(
        model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Model]
    ) -> TemplateResponse | None:
        form = ReasonForm(request.POST if request.POST.get("post") else None)
        chosen = list(queryset)
        if not form.is_valid():
            context = {
                **model_admin.admin_site.each_context(request),
                "title": title,
                "explanation": explanation,
                "opts": model_admin.opts,
                "chosen": [(row.pk, label(row)) for row in chosen],
                "ids": [row.pk for row in chosen],
                "form": form,
                "action": name,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": model_admin.media + form.media,
            }
            return TemplateResponse(request, CONFIRMATION, context)
        done = 0
        for row in chosen:
            try:
                act(row, by=request.user, reason=form.cleaned_data["reason"])
            except (InvalidStateTransition, SagaError) as exc:
                model_admin.message_user(request, str(exc), messages.WARNING)
            else:
                done += 1
        if done:
            model_admin.message_user(request, f"{title}: {done} {noun}.", messages.SUCCESS)
        return None

    run.__name__ = name
    return admin.action(description=f"{title} (selected {noun})", permissions=[permission])(run)
