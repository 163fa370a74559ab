"""The JSON API's bearer tokens: made here, shown once, revoked by an action."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import ngettext

from ..console import tokens
from ..models import ApiToken
from .common import NoNulAdmin, badge


class ApiTokenForm(forms.ModelForm):
    """A new token: its name, and (for a superuser) whose it is."""

    class Meta:
        model = ApiToken
        fields = ("user", "name")

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        if user is not None and not user.is_active:
            raise forms.ValidationError(
                "This user is inactive: a token of theirs would be refused."
            )
        return user


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(NoNulAdmin):
    """Tokens for the console's JSON API: made here, shown once, revoked by an action.

    A token acts as its user, so a user who is not a superuser makes tokens
    for themselves only, and sees and revokes only their own.
    """

    form = ApiTokenForm
    list_display = ("name", "user", "shown_prefix", "created_at", "last_used_at", "status")
    list_filter = (TokenStatusFilter,)
    list_select_related = ("user",)
    search_fields = ("name", "=prefix")
    search_help_text = "Part of a token's name, or its prefix (the hex after dsg_)."
    ordering = ("-pk",)
    actions = ["revoke_tokens"]
    # An id box, not a menu of every user there is.
    raw_id_fields = ("user",)
    readonly_fields = ("user", "shown_prefix", "created_at", "last_used_at", "revoked_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user=request.user.pk)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None:
            return ("name", *self.readonly_fields)
        return ("user", "name") if request.user.is_superuser else ("name",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        if not request.user.is_superuser:
            obj.user = request.user  # type: ignore[assignment]
        # Kept on the instance for response_add() only: never stored, never logged.
        obj._plaintext = tokens.issue(obj)  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The token, shown this once, instead of the usual redirect."""
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": obj,
            "plaintext": getattr(obj, "_plaintext", ""),
            "api_url": _api_url(),
        }
        request.current_app = self.admin_site.name
        response = TemplateResponse(request, "admin/django_saga/apitoken/created.html", context)
        # Neither the browser nor a proxy keeps a copy of the page.
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="prefix")
    def shown_prefix(self, token: ApiToken) -> str:
        return f"{tokens.TOKEN_PREFIX}{token.prefix}_…"

    @admin.display(description="status")
    def status(self, token: ApiToken) -> str:
        if token.revoked_at is None:
            return badge("completed", "active")
        return badge("failed", "revoked")

    @admin.action(description="Revoke selected API tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = [token for token in queryset if tokens.revoke(token)]
        for token in revoked:
            self.log_change(request, token, "Revoked")
        if revoked:
            self.message_user(
                request,
                ngettext(
                    "%(count)d API token revoked: requests with it are refused from now on.",
                    "%(count)d API tokens revoked: requests with them are refused from now on.",
                    len(revoked),
                )
                % {"count": len(revoked)},
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "The selected tokens were revoked already.", messages.INFO)


def _api_url() -> str | None:
    """The JSON API's saga list, if the project mounts the console."""
    try:
        return reverse("django_saga:api-list")
    except NoReverseMatch:
        return None
