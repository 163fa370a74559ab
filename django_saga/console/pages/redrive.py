"""Re-driving many sagas: choosing them and saying why, a preview, sending
them paced through the outbox, then where the re-drive stands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import TemplateView

from ... import clock
from ...actions import REDRIVE_PERMISSION, Redrive
from ...api import manager
from ...errors import SagaDefinitionError
from ...models import WAITING_FOR_OPERATOR, Saga, SagaState
from ..access import ConsoleAccessMixin
from ..formatting import format_duration
from ..forms import RedriveForm
from ..paging import tally
from ..queries import REDRIVE_AT_ONCE, redrive_report, redriven_sagas
from ..rows import attention_rows
from .common import notify, refresh_interval

#: Sagas a re-drive's preview, and its progress page, list.
LISTED = 20
#: A re-drive's refusals its message names one by one.
REFUSALS_NAMED = 5


class RedriveView(ConsoleAccessMixin, TemplateView):
    """Retry many sagas that wait for an operator: choose them and say why,
    see how many match (a preview), then send them, paced through the outbox."""

    template_name = "django_saga/redrive.html"
    permission = REDRIVE_PERMISSION
    purpose = "re-drive sagas"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Filters in the query string fill the form in: links can choose the sagas.
        keys = ("name", "state", "error", "older_than")
        form = RedriveForm(initial={key: request.GET[key] for key in keys if key in request.GET})
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = RedriveForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        selection = form.selection()
        rate = form.cleaned_data["rate"]
        if "run" not in request.POST:
            return self.render_to_response(
                self.get_context_data(form=form, preview=_preview(selection, rate))
            )
        chosen = list(selection.values_list("pk", flat=True)[: REDRIVE_AT_ONCE + 1])
        if not chosen:
            notify(request, messages.ERROR, "No saga matches any more: nothing was re-driven.")
            return self.render_to_response(self.get_context_data(form=form))
        try:
            redrive = manager.redrive(
                chosen[:REDRIVE_AT_ONCE],
                rate=rate,
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except SagaDefinitionError as exc:  # a rate too slow for so many sagas
            form.add_error("rate", str(exc))
            return self.render_to_response(self.get_context_data(form=form), status=400)
        for level, text in _redrive_messages(redrive, more=len(chosen) > REDRIVE_AT_ONCE):
            notify(request, level, text)
        if not redrive.scheduled:
            return self.render_to_response(self.get_context_data(form=form))
        return HttpResponseRedirect(reverse("django_saga:redrive-progress", args=[redrive.batch]))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(at_once=REDRIVE_AT_ONCE, listed=LISTED)
        return context


def _preview(selection: QuerySet[Saga], rate: float) -> dict[str, Any]:
    """How many sagas a re-drive would send, the first of them, and how long it takes."""
    count = tally(selection)
    sent = min(count.value, REDRIVE_AT_ONCE)
    return {
        "count": count,
        "rows": attention_rows(selection[:LISTED], clock.now()),
        "sent": sent,
        "capped": count.value > REDRIVE_AT_ONCE,
        "rate": f"{rate:g}",
        "takes": format_duration(timedelta(seconds=max(sent - 1, 0) / rate)),
    }


def _redrive_messages(redrive: Redrive, more: bool) -> list[tuple[int, str]]:
    """What the operator is told once a re-drive is sent: sent, left alone, left over."""
    said = []
    if redrive.scheduled:
        n = len(redrive.scheduled)
        pace = (
            f"{n} sagas scheduled, {redrive.rate:g} a second; the last is sent in "
            f"{format_duration(timedelta(seconds=redrive.seconds))}."
            if n > 1
            else "1 saga scheduled, sent now."
        )
        said.append((messages.SUCCESS, f"Re-drive started: {pace}"))
    if redrive.refused:
        named = "; ".join(why for _, why in redrive.refused[:REFUSALS_NAMED])
        rest = len(redrive.refused) - REFUSALS_NAMED
        said.append(
            (
                messages.WARNING,
                f"{len(redrive.refused)} left alone: {named}"
                + (f"; and {rest} more." if rest > 0 else ""),
            )
        )
    if more:
        said.append(
            (
                messages.WARNING,
                f"More sagas match than one re-drive sends ({REDRIVE_AT_ONCE:,}): "
                "re-drive again for the rest.",
            )
        )
    return said


class RedriveProgressView(ConsoleAccessMixin, TemplateView):
    """Where a bulk re-drive stands: its sagas by state now, those waiting for
    an operator again, and a reload while its sagas are being retried."""

    template_name = "django_saga/redrive_progress.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        batch = kwargs["batch"]
        report = redrive_report(batch)
        if report is None:
            raise Http404(f"No re-drive {batch!r}.")
        now = clock.now()
        under_way = report.under_way(now)
        waiting = redriven_sagas(batch, WAITING_FOR_OPERATOR)
        context.update(
            report=report,
            counts=[
                {"state": value, "label": label, "count": report.counts[value]}
                for value, label in SagaState.choices
                if report.counts.get(value)
            ],
            waiting=attention_rows(waiting[:LISTED], now),
            under_way=under_way,
            sending=report.sending_until > now,
            refresh=refresh_interval() if under_way else None,
            listed=LISTED,
        )
        return context
