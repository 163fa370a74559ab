"""The flow page: each limited action with its limit, its runs under way and
what waits for it; the pauses in force, each with a form that resumes it;
and a form that pauses actions or saga names."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from ...actions.pauses import PAUSE_PERMISSION
from ...api import manager
from ...errors import InvalidStateTransition, SagaDefinitionError
from ...models import Pause, Scope
from ..access import ConsoleAccessMixin
from ..waits import limit_rows
from .common import notify

#: Ended pauses the page lists, newest first (the admin lists them all).
ENDED_SHOWN = 20


class FlowView(ConsoleAccessMixin, TemplateView):
    """Limits, what waits, and pauses."""

    template_name = "django_saga/flow.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        pauses = Pause.objects.order_by("-id")
        context.update(
            limits=limit_rows(),
            active=list(pauses.filter(resumed_at__isnull=True)),
            ended=list(pauses.filter(resumed_at__isnull=False)[:ENDED_SHOWN]),
            scopes=Scope.choices,
            can_pause=self.request.user.has_perm(PAUSE_PERMISSION),
        )
        return context


class FlowActView(ConsoleAccessMixin, View):
    """POST only, from the flow page: pause or resume (``act``) what the form
    names, with the user and the reason; back to the page with how it went
    (the manager's sentence when it refuses)."""

    http_method_names = ["post"]
    act = ""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(PAUSE_PERMISSION):
            raise PermissionDenied("Pausing actions and saga names needs its permission.")
        scope = request.POST.get("scope", "")
        subject: dict[str, str | None] = {"action": None, "name": None}
        if scope in (Scope.ACTION, Scope.NAME):
            subject[scope] = request.POST.get("pattern", "")
        try:
            if scope not in (Scope.ACTION, Scope.NAME):
                raise SagaDefinitionError("Choose what to pause: an action or a saga name.")
            change = manager.pause if self.act == "pause" else manager.resume
            done = change(
                action=subject["action"],
                name=subject["name"],
                by=request.user,
                reason=request.POST.get("reason", ""),
            )
        except (InvalidStateTransition, SagaDefinitionError) as exc:
            notify(request, messages.ERROR, str(exc))
        else:
            verb = "Paused" if self.act == "pause" else "Resumed"
            notify(request, messages.SUCCESS, f"{verb} {done}.")
        return HttpResponseRedirect(reverse("django_saga:flow"))
