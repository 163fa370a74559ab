"""The repair pages: what an operator action on a saga or on one of its
steps will do, a form asking why, then the action itself."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from ...actions import pivot_passed, relevant_steps
from ...api import manager
from ...errors import InvalidStateTransition, SagaDefinitionError, SagaNotFound
from ...models import IN_FLIGHT, Saga, SagaStep, StepStatus
from ..formatting import pretty_json
from ..forms import ReasonForm, StepRepairForm
from .common import OneSagaView, detail_url, notify


class RepairView(OneSagaView):
    """What an action will do and a form asking why (GET); the action
    itself (POST), then back to the saga's page with how it went.

    A blank reason, or bad JSON on a step's page, shows the page again with
    the error next to its field (a 400). An action the saga's state does
    not allow goes back to the saga's page with the sentence saying why.
    """

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        refused = self.refusal()
        if refused is not None:
            return self.back(messages.ERROR, refused)
        return self.render_to_response(self.get_context_data(form=self.form()))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        assert self.action is not None
        refused = self.refusal()
        if refused is not None:
            return self.back(messages.ERROR, refused)
        form = self.form(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            manager.act(
                self.action,
                self.object.pk,
                *self.target(form),
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except SagaNotFound as exc:
            raise Http404(str(exc)) from exc
        except (InvalidStateTransition, SagaDefinitionError) as exc:
            return self.back(messages.ERROR, str(exc))
        return self.back(messages.SUCCESS, self.action.done)

    def refusal(self) -> str | None:
        assert self.action is not None
        return self.action.refusal(self.object, relevant_steps(self.object.pk))

    def form(self, data: Any = None) -> ReasonForm:
        return ReasonForm(data)

    def target(self, form: ReasonForm) -> tuple[str, dict | None]:
        """The step acted on and the action's JSON object, if any."""
        return "", None

    def back(self, level: int, text: str) -> HttpResponse:
        notify(self.request, level, text)
        return HttpResponseRedirect(detail_url(self.object.pk))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["action"] = self.action
        return context


class ActionConfirmView(RepairView):
    """Compensate a saga, or retry its compensation: which steps it undoes and cancels."""

    template_name = "django_saga/confirm.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        saga: Saga = self.object
        assert self.action is not None
        steps = list(SagaStep.objects.filter(saga_id=saga.pk).order_by("position"))
        context.update(
            action_url=reverse(f"django_saga:{self.action.slug}", args=[saga.pk]),
            undo=[s for s in reversed(steps) if s.status in self.action.undoes],
            cancel=[s for s in steps if s.status in (StepStatus.PENDING, *IN_FLIGHT)],
        )
        return context


class ActionView(ActionConfirmView):
    """POST only: the confirmation page's form posts here."""

    http_method_names = ["post"]


class StepActionView(RepairView):
    """An action on one step: its confirmation page (GET) and the action (POST)."""

    template_name = "django_saga/step_confirm.html"
    step: SagaStep

    def get_object(self, queryset: QuerySet[Saga] | None = None) -> Saga:
        saga: Saga = super().get_object(queryset)
        step_id = self.kwargs["step_id"]
        step = SagaStep.objects.filter(saga_id=saga.pk, pk=step_id).first()
        if step is None:
            raise Http404(f"Saga {saga.pk} has no step {step_id!r}.")
        self.step = step
        return saga

    def refusal(self) -> str | None:
        assert self.action is not None
        steps = relevant_steps(self.object.pk, self.step.pk)
        return self.action.refusal(self.object, steps, self.step.pk)

    def form(self, data: Any = None) -> ReasonForm:
        assert self.action is not None
        if self.action.data is None:
            return ReasonForm(data)
        return StepRepairForm(data, action=self.action, step=self.step)

    def target(self, form: ReasonForm) -> tuple[str, dict | None]:
        return self.step.name, form.cleaned_data.get("step_json")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        assert self.action is not None
        pivot = pivot_passed(relevant_steps(self.object.pk))
        context.update(
            step=self.step,
            action_url=reverse(
                f"django_saga:{self.action.slug}", args=[self.object.pk, self.step.pk]
            ),
            input_json=pretty_json(self.step.input),
            past_pivot=pivot,
        )
        return context
