"""Every operator page a superuser opens, timed on the history: p50, p95 and queries.

Console, JSON API, metrics and admin pages, each deep in the list and with
the filters operators use, since those are what history makes slow.
"""

from __future__ import annotations

import statistics
import time
from urllib.parse import urlencode

from django.core.management.base import OutputWrapper
from django.db import connections
from django.test.utils import CaptureQueriesContext

from .report import machine_line


def time_pages(out: OutputWrapper, runs: int, only: str) -> None:
    """``runs`` timed requests of each page whose label contains ``only``, after one to warm up."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from django_saga.models import Saga

    user_model = get_user_model()
    user = user_model.objects.filter(
        username="bench"
    ).first() or user_model.objects.create_superuser("bench", password="bench")
    client = Client()
    client.force_login(user)
    # With no saga at all (the baseline), the pages of one saga are left out.
    newest = Saga.objects.order_by("-pk").values_list("pk", flat=True).first() or ""
    # The saga 100,000 rows down: what ?page=2000 showed with 50 a page.
    deep = Saga.objects.order_by("-pk").values_list("pk", flat=True)[100_000:100_001].first()
    deep = deep or newest
    failed = Saga.objects.filter(state="failed").values_list("pk", flat=True).first() or newest
    admin_list = reverse("admin:django_saga_saga_changelist")
    console = reverse("django_saga:dashboard")
    api = reverse("django_saga:api-list")
    pages = [
        ("console dashboard", console),
        ("dashboard, 100,000 sagas down", f"{console}?before={deep}"),
        ("dashboard ?q=refund", f"{console}?q=refund"),
        ("dashboard ?q=<an id>", f"{console}?q={deep}"),
        ("dashboard ?state=failed", f"{console}?state=failed"),
        (
            "dashboard ?state=compensated&name=order.refund",
            f"{console}?state=compensated&name=order.refund",
        ),
        ("dashboard ?name=account.close", f"{console}?name=account.close"),
        ("dashboard ?state=compensated&q=refund", f"{console}?state=compensated&q=refund"),
        ("dashboard ?q=nothing-matches", f"{console}?q=nothing-matches"),
        ("JSON list", api),
        ("JSON list, 100,000 down", f"{api}?before={deep}"),
        ("JSON list ?state=compensation_failed", f"{api}?state=compensation_failed"),
        ("JSON list ?q=refund", f"{api}?q=refund"),
        (
            "JSON list ?state=failed&name=account.close",
            f"{api}?state=failed&name=account.close",
        ),
        ("admin change list", admin_list),
        ("admin, last page offered", f"{admin_list}?p=199"),
        ("admin ?state__exact=completed", f"{admin_list}?state__exact=completed"),
        ("admin ?state__exact=failed", f"{admin_list}?state__exact=failed"),
        ("admin ?name=order.refund", f"{admin_list}?name=order.refund"),
        ("admin search: an exact id", f"{admin_list}?q={deep}"),
        ("admin search: refund", f"{admin_list}?q=refund"),
        ("admin created today", f"{admin_list}?{urlencode({'created_at__gte': _today()})}"),
        *(
            [
                ("saga page", reverse("django_saga:detail", args=[failed])),
                ("JSON detail", reverse("django_saga:api-detail", args=[failed])),
                ("admin change page", reverse("admin:django_saga_saga_change", args=[failed])),
            ]
            if failed
            else []
        ),
        ("metrics view", reverse("django_saga:metrics")),
    ]
    out.write(machine_line())
    out.write(f"{'page':<48} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for label, url in pages:
        if only not in label:
            continue
        status = client.get(url).status_code  # warm caches and the session
        timings = []
        queries = 0
        for _ in range(runs):
            with CaptureQueriesContext(connections["default"]) as captured:
                begin = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - begin) * 1000)
            queries = len(captured)
            status = response.status_code
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        note = "" if status == 200 else f"  (HTTP {status})"
        out.write(f"{label:<48} {statistics.median(timings):8.1f} {p95:8.1f} {queries:8d}{note}")


def _today() -> str:
    """Midnight today, as the admin's date filter writes it in its links."""
    from django.utils import timezone

    return str(timezone.now().replace(hour=0, minute=0, second=0, microsecond=0))
