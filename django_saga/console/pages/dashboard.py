"""The dashboard: counts by state, the sagas that need an operator, and
every saga, filtered and paged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.views.generic import TemplateView

from ... import clock
from ...actions import REDRIVE_PERMISSION
from ...conf import saga_settings
from ...models import WAITING_FOR_OPERATOR, Saga, SagaState
from ..access import ConsoleAccessMixin
from ..formatting import format_duration
from ..paging import BadCursor, Tally, tally, window, without_cursor
from ..queries import TEXT_FILTERS, BadFilter, attach_progress, filter_sagas, saga_names
from ..rows import attention_rows, saga_rows
from ..waits import pauses_in_force


class DashboardView(ConsoleAccessMixin, TemplateView):
    """Counts by state, sagas that need an operator, and every saga, filtered.

    Served by indexes whatever the table size: counts stop at
    ``paging.COUNT_CAP`` rows and estimate beyond, and the list is paged by
    cursor (``before``/``after``), not by page number.
    """

    template_name = "django_saga/dashboard.html"
    attention_limit = 10

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            context = self.get_context_data(**kwargs)
        except BadCursor as exc:
            raise BadRequest(f"Bad page link: {exc}.") from exc
        # A filter no saga can match: the page, with the error by the filters.
        return self.render_to_response(context, status=400 if context["filter_error"] else 200)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        get = self.request.GET
        now = clock.now()
        counts = {state: tally(Saga.objects.filter(state=state)) for state in SagaState.values}
        filter_error = ""
        try:
            filtered = filter_sagas(Saga.objects.all(), get)
        except BadFilter as exc:
            filter_error = str(exc)
            filtered = Saga.objects.none()
        page = window(filtered, get, int(saga_settings.CONSOLE_PAGE_SIZE))
        stale_after = float(saga_settings.STALE_AFTER)
        # Newest first by id: an index walk, where ordering by the time of the
        # failure would read every failed saga there is.
        waiting = Saga.objects.in_state(*WAITING_FOR_OPERATOR).order_by("-pk")
        stuck = Saga.objects.stale(stale_after).order_by("updated_at")
        is_filtered = any(get.get(k) for k in ("state", *TEXT_FILTERS))
        context.update(
            sagas=saga_rows(attach_progress(page.rows), now),
            newer=page.newer,
            older=page.older,
            counts=[
                {"state": value, "label": label, "count": counts[value]}
                for value, label in SagaState.choices
            ],
            total=tally(filtered) if is_filtered else sum(counts.values(), Tally(0)),
            waiting=attention_rows(waiting[: self.attention_limit], now),
            waiting_count=sum((counts[s] for s in WAITING_FOR_OPERATOR), Tally(0)),
            stuck=attention_rows(stuck[: self.attention_limit], now),
            stuck_count=tally(stuck),
            stale_after=format_duration(timedelta(seconds=stale_after)),
            names=saga_names(),
            states=SagaState.choices,
            # A value no saga can match is not offered again.
            filters={
                key: "" if "\x00" in get.get(key, "") else get.get(key, "")
                for key in ("state", *TEXT_FILTERS)
            },
            filter_error=filter_error,
            filtered=is_filtered,
            query_string=without_cursor(get).urlencode(),
            can_redrive=self.request.user.has_perm(REDRIVE_PERMISSION),
            pauses=pauses_in_force(),
        )
        return context
