"""Every query behind the operator pages is served by an index (PostgreSQL).

30,000 sagas and 90,000 steps are enough for the planner to prefer an index
wherever one can serve a query. Each page is requested, every query it ran
on the saga tables is run again under ``EXPLAIN (ANALYZE, BUFFERS)``, and
none may scan a saga table sequentially (unless a LIMIT stops the scan
early, as when counting up to 10,000 of the most common state) or touch
more than a small, fixed number of pages: what a list page costs must not
grow with the history.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_saga.models import Saga

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SAGAS = 30_000
TABLES = ("django_saga_saga", "django_saga_sagastep")
#: Pages (8 KiB) one query may touch; scanning either table would touch thousands.
PAGES_READ_AT_MOST = 400


@pytest.fixture(scope="module")
def history(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Sagas of 3 steps over 30 days, ids in creation order, 1% failed; committed and
    vacuumed, as a production table is, so the planner sees what it would see there."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO django_saga_saga (id, name, state, context, error, created_at,
                updated_at, completed_at, deadline_at, definition, version)
            SELECT lpad(n::text, 26, '0'),
                (ARRAY['order', 'refund', 'shipment', 'renewal'])[1 + mod(n, 4)],
                CASE WHEN mod(n, 100) = 0 THEN 'failed'
                     WHEN mod(n, 100) = 1 THEN 'compensated' ELSE 'completed' END,
                jsonb_build_object('order', n), '', ts, ts,
                CASE WHEN mod(n, 100) <> 0 THEN ts END, NULL, '', ''
            FROM (SELECT n, now() - make_interval(days => 30) * (%(n)s - n) / %(n)s AS ts
                  FROM generate_series(1, %(n)s) AS n) AS rows
            """,
            {"n": SAGAS},
        )
        cursor.execute(
            """
            INSERT INTO django_saga_sagastep (id, saga_id, position, stage, name, action,
                compensation, input, output, status, error, attempts, compensation_attempts,
                created_at, updated_at, history)
            SELECT 'S' || substr(s.id, 3) || k, s.id, k, k, 'step' || k, 'test.record',
                'test.undo', '{}', '{}', 'completed', '', 1, 0, s.created_at, s.created_at, '[]'
            FROM django_saga_saga AS s CROSS JOIN generate_series(0, 2) AS k
            """
        )
        for table in TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        try:
            yield
        finally:
            cursor.execute("TRUNCATE django_saga_saga, django_saga_sagastep CASCADE")


def pages() -> dict[str, str]:
    some = "00000000000000000000015000"
    failed = "00000000000000000000012000"
    console = reverse("django_saga:dashboard")
    api = reverse("django_saga:api-list")
    admin = reverse("admin:django_saga_saga_changelist")
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "dashboard": console,
        "dashboard, deep": f"{console}?before={some}",
        "dashboard, newer": f"{console}?after={some}",
        "dashboard by state": f"{console}?state=failed",
        "dashboard by name and state": f"{console}?name=refund&state=compensated",
        "dashboard search for part of a name": f"{console}?q=fun",
        "dashboard by state and search": f"{console}?state=compensated&q=fun",
        "dashboard search for an id": f"{console}?q={some}",
        "JSON list": api,
        "JSON list, deep": f"{api}?before={some}",
        "JSON list by state": f"{api}?state=failed",
        "admin list": admin,
        "admin list, a later page": f"{admin}?p=150",
        "admin by state": f"{admin}?state__exact=completed",
        "admin by name": f"{admin}?name=shipment",
        "admin search": f"{admin}?q=refund",
        "admin search for an id": f"{admin}?q={some}",
        "admin created today": f"{admin}?{urlencode({'created_at__gte': str(today)})}",
        "saga page": reverse("django_saga:detail", args=[failed]),
        "JSON detail": reverse("django_saga:api-detail", args=[failed]),
        "admin change page": reverse("admin:django_saga_saga_change", args=[failed]),
    }


def plan_of(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def unbounded_scans(plan: dict, limited: bool = False) -> list[str]:
    """Tables read by a sequential scan with no LIMIT above it to stop it early."""
    limited = limited or plan["Node Type"] == "Limit"
    found = []
    if plan["Node Type"] == "Seq Scan" and plan.get("Relation Name") in TABLES and not limited:
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found += unbounded_scans(child, limited)
    return found


@pytest.mark.parametrize("page", list(pages()))
def test_no_query_of_the_page_scans_a_saga_table(page, history, admin_client):
    assert Saga.objects.count() == SAGAS
    url = pages()[page]
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)
    assert response.status_code == 200, url
    checked = 0
    for query in captured:
        sql = query["sql"]
        if not sql.startswith(("SELECT", "WITH")) or not any(t in sql for t in TABLES):
            continue
        plan = plan_of(sql)
        scans = unbounded_scans(plan)
        assert not scans, f"{page}: sequential scan of {scans} in\n{sql}"
        touched = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
        assert touched <= PAGES_READ_AT_MOST, f"{page}: {touched} pages read by\n{sql}"
        checked += 1
    assert checked, f"{page} ran no query on the saga tables"
