"""Who may use the console, API tokens and CSRF for its JSON API, and no framing of its pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import decorator_from_middleware, method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from ..actions import Action
from ..conf import saga_settings
from ..routers import console_reads
from . import tokens
from .schedules import VIEW_SCHEDULE, ScheduleAct


def can_view_console(user: Any) -> bool:
    """Staff (if ``CONSOLE_STAFF_ONLY``) holding ``CONSOLE_PERMISSION`` (if set)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if saga_settings.CONSOLE_STAFF_ONLY and not user.is_staff:
        return False
    permission = saga_settings.CONSOLE_PERMISSION
    return not permission or bool(user.has_perm(permission))


def json_error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, **extra}, status=status)


#: What a JSON endpoint says of a body sent as a form.
NOT_A_FORM = "Send a JSON object (Content-Type: application/json), not a form."


def too_large() -> str:
    """What a JSON endpoint says of a body over Django's upload limit."""
    return (
        f"The body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
        "(DATA_UPLOAD_MAX_MEMORY_SIZE)."
    )


class _JsonCsrfCheck(CsrfViewMiddleware):
    """The CSRF check, answering a refusal in JSON rather than an HTML page."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return json_error(403, "csrf_failed", f"CSRF verification failed: {reason}")

    def process_view(  # type: ignore[override]  # answers 400 and 413 too, not only 403
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> HttpResponse | None:
        # The check reads a form body for its token: a body Django refuses to
        # read is answered here, in JSON, as the view would answer it.
        try:
            return super().process_view(request, callback, callback_args, callback_kwargs)
        except RequestDataTooBig:
            return json_error(413, "too_large", too_large())
        except (TooManyFieldsSent, TooManyFilesSent, MultiPartParserError):
            return json_error(400, "bad_request", NOT_A_FORM)


json_csrf_protect = decorator_from_middleware(_JsonCsrfCheck)


def deny_framing(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Forbid other sites to frame the response, whatever middleware the project has.

    A console page holds one-click operator actions (the compensate
    confirmation): framed by another site, it would be a clickjacking target.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(*args, **kwargs)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        return response

    return wrapped


class _Guarded:
    """A view that may need one permission beyond console access: its
    ``action``'s, or else ``permission`` (for ``purpose``, e.g. "re-drive sagas")."""

    action: Action | None = None
    permission = ""
    purpose = ""

    def missing_permission(self, user: Any) -> str | None:
        """The sentence refusing ``user`` this view, or None if they may use it."""
        if self.action is not None:
            if self.action.permitted(user):
                return None
            what, needed = f"{self.action.label.lower()} sagas", self.action.permission
        elif not self.permission or user.has_perm(self.permission):
            return None
        else:
            what, needed = self.purpose, self.permission
        return f"You may not {what} (needs {needed})."


class ScheduleGuard(_Guarded):
    """A view of schedules: Django's view permission on them, and its ``act``'s
    permission if it is one of an operator's actions on a schedule."""

    permission = VIEW_SCHEDULE
    purpose = "view schedules"
    act: ScheduleAct | None = None

    def missing_permission(self, user: Any) -> str | None:
        denied = super().missing_permission(user)
        if denied is None and self.act is not None and not self.act.permitted(user):
            return f"You may not {self.act.purpose} (needs {self.act.permission})."
        return denied


class FlowGuard(_Guarded):
    """A view of flow control: console access to read; a view that pauses or
    resumes sets ``permission`` to ``django_saga.pause_actions``."""

    purpose = "pause or resume actions and saga names"


def read_only_pages(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Serve a GET or HEAD with django-saga's reads on ``CONSOLE_DATABASE``,
    rendering the response inside (a template's querysets run as it renders)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        alias = saga_settings.CONSOLE_DATABASE
        if not alias or request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with console_reads(alias):
            response = view(request, *args, **kwargs)
            render = getattr(response, "render", None)
            if render is not None:
                render()
        return response

    return wrapped


class ConsoleAccessMixin(_Guarded):
    """Anonymous users go to the login page; others need console access.

    ``action`` (set by the action views) adds that action's permission.
    The CSRF check runs whether or not the project enables the middleware,
    and no page of the console may be framed. A page people answer tasks on
    sets ``for_console`` False: any active user may open it, and the task
    decides what they see.
    """

    for_console = True

    @method_decorator(deny_framing)
    @method_decorator(csrf_protect)
    @method_decorator(read_only_pages)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (can_view_console(user) if self.for_console else user.is_active):
            raise PermissionDenied("You may not use the saga console.")
        denied = self.missing_permission(user)
        if denied is not None:
            raise PermissionDenied(denied)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class JsonAccessMixin(_Guarded):
    """The JSON endpoints' access rules, with every refusal as a JSON body.

    A request may carry an API token (``Authorization: Bearer <token>``)
    instead of a session: it then acts as the token's user, and needs no
    CSRF token, since no cookie authenticates it. A token that is malformed,
    unknown, revoked or whose user is inactive gets a 401, never an
    anonymous answer. A session request keeps its CSRF check.
    """

    #: False for the endpoints people answer tasks through (as ``ConsoleAccessMixin``).
    for_console = True

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        view = super().as_view(**initkwargs)  # type: ignore[misc]
        # The project's CSRF middleware would refuse with an HTML page; the
        # same check runs in dispatch() instead and refuses in JSON.
        return csrf_exempt(view)  # type: ignore[no-any-return]

    @method_decorator(deny_framing)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        header = request.headers.get("Authorization", "")
        if not tokens.is_bearer(header):
            return self._with_session(request, *args, **kwargs)
        # Checked on the primary database, before the reads of a GET move
        # to CONSOLE_DATABASE: a token revoked a moment ago is refused.
        try:
            request.user = tokens.authenticate(header)
        except tokens.InvalidToken as exc:
            response = json_error(401, "invalid_token", str(exc))
            response["WWW-Authenticate"] = 'Bearer realm="django-saga", error="invalid_token"'
            return response
        return self._checked(request, *args, **kwargs)

    @method_decorator(json_csrf_protect)
    def _with_session(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return self._checked(request, *args, **kwargs)

    @method_decorator(read_only_pages)
    def _checked(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return json_error(
                403,
                "not_authenticated",
                "Log in, or send an API token (Authorization: Bearer ...), "
                "to use the saga console's API.",
            )
        if not (can_view_console(user) if self.for_console else user.is_active):
            return json_error(403, "permission_denied", "You may not use the saga console.")
        denied = self.missing_permission(user)
        if denied is not None:
            return json_error(403, "permission_denied", denied)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        allowed = [m.upper() for m in ("get", "post") if hasattr(self, m)]
        response = json_error(
            405, "method_not_allowed", f"Use {' or '.join(allowed)} on this endpoint."
        )
        response["Allow"] = ", ".join(allowed)
        return response
