"""What the admin's pages share: badges, JSON blocks, read-only rows, bounded
lists, and lists that take a NUL character as naming no row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from ..console import paging
from ..console.formatting import pretty_json
from ..console.paging import Tally, tally

#: Badge colours (background, text) by saga state or step status.
COLOURS = {
    "pending": ("#e5e7eb", "#374151"),
    "started": ("#dbeafe", "#1e40af"),
    "completed": ("#dcfce7", "#166534"),
    "failed": ("#fee2e2", "#991b1b"),
    "compensating": ("#fef3c7", "#92400e"),
    "compensated": ("#ede9fe", "#5b21b6"),
    "compensation_failed": ("#991b1b", "#ffffff"),
    "cancelled": ("#f3f4f6", "#6b7280"),
    "waiting": ("#e0f2fe", "#075985"),
    "skipped": ("#f3f4f6", "#374151"),
    "halted": ("#ffedd5", "#9a3412"),
}


def badge(value: str, label: str) -> str:
    background, colour = COLOURS.get(value, ("#e5e7eb", "#111827"))
    return format_html(
        '<span style="background:{};color:{};padding:2px 8px;border-radius:10px;'
        'font-weight:600;white-space:nowrap">{}</span>',
        background,
        colour,
        label,
    )


def json_block(value: Any) -> str:
    return format_html(
        '<pre style="margin:0;max-width:32em;max-height:20em;overflow:auto;'
        'white-space:pre-wrap;word-break:break-word">{}</pre>',
        pretty_json(value),
    )


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


#: Steps the saga's change page lists; a longer saga links to the console for the rest.
INLINE_STEPS = 50
#: Operator actions the saga's change page lists, the newest first.
INLINE_TRAIL = 50


class FirstRowsFormSet(BaseInlineFormSet):
    """The first ``limit`` rows only: a page for 10,000 steps would take seconds."""

    limit: int

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_first_rows"):
            self._first_rows = super().get_queryset()[: self.limit]
        return self._first_rows


class FirstStepsFormSet(FirstRowsFormSet):
    limit = INLINE_STEPS


class LatestTrailFormSet(FirstRowsFormSet):
    limit = INLINE_TRAIL


def console_url(saga_id: str) -> str | None:
    """The saga's page in the console, if the project mounts the console."""
    try:
        return reverse("django_saga:detail", args=[saga_id])
    except NoReverseMatch:
        return None


class SeenWithTheSaga:
    """An inline of the saga's page: whoever may view a saga may view it."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("django_saga.view_saga"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BoundedPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` rows (estimates beyond) and offers the pages within them.

    Django's paginator counts the whole filtered table for every list page;
    with millions of sagas that count alone takes seconds.
    """

    @cached_property
    def tally(self) -> Tally:
        return tally(self.object_list)  # type: ignore[arg-type]  # always a queryset here

    @cached_property
    def count(self) -> int:
        return self.tally.value

    @cached_property
    def num_pages(self) -> int:
        reachable = min(self.count, paging.COUNT_CAP)
        return max(1, -(-reachable // self.per_page))


def _holds_nul(values: Iterable[str]) -> bool:
    return any("\x00" in value for value in values)


class NoNulChangeList(ChangeList):
    """A list filtered or searched by a value holding a NUL character shows no rows.

    No row of the library's tables holds one, and PostgreSQL refuses to
    compare one with a text column: the list would fail instead of matching
    nothing.
    """

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        # Checked first: a search may read the database while the list is built.
        values = [value for values in self.filter_params.values() for value in values]
        if _holds_nul([*values, self.query]):
            return self.root_queryset.none()
        return super().get_queryset(request, exclude_parameters)


class NoNulAdmin(admin.ModelAdmin):
    """Lists, pages and actions that take an id or a filter holding a NUL character
    as naming no row, where PostgreSQL would raise."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return NoNulChangeList

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        if "\x00" in object_id:
            return None  # the admin's own "doesn't exist"
        return super().get_object(request, object_id, from_field)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        if _holds_nul(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)):
            self.message_user(
                request,
                "No row's id holds a NUL character: nothing was changed.",
                messages.WARNING,
            )
            return None  # back to the list
        return super().response_action(request, queryset, *args, **kwargs)


class NewestFirstAdmin(NoNulAdmin):
    """A list of a table that only grows: newest first by id (ULIDs, or a
    sequence: the primary key serves it), no sorting by other columns, and
    neither a count of the whole table nor counts beside each filter."""

    ordering = ("-pk",)
    sortable_by = ()
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator
