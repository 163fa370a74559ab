"""What several of the console's pages share: messages, a page about one saga,
the reload interval and the saga page's address."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.views.generic import DetailView

from ...conf import saga_settings
from ...models import Saga
from ..access import ConsoleAccessMixin


def notify(request: HttpRequest, level: int, text: str) -> None:
    """Tell the operator ``text`` on the next page shown (or nothing, without messages)."""
    messages.add_message(request, level, text, fail_silently=True)


class OneSagaView(ConsoleAccessMixin, DetailView):
    """A page about the saga whose id the URL names."""

    context_object_name = "saga"
    pk_url_kwarg = "saga_id"

    def get_queryset(self) -> QuerySet[Saga]:
        return Saga.objects.all()


def refresh_interval() -> int | float | None:
    """Seconds between a page's reloads while what it shows is moving; None: never."""
    seconds = saga_settings.CONSOLE_REFRESH
    return seconds if seconds and seconds > 0 else None  # type: ignore[no-any-return]


def detail_url(saga_id: str) -> str:
    """The address of a saga's page."""
    return reverse("django_saga:detail", args=[saga_id])
