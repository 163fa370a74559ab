"""The querysets behind the console's and the admin's lists: filters, search,
progress and re-drive reports, each served by an index whatever the table size.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_saga import manager
from django_saga.console.queries import (
    TEXT_FILTERS,
    BadFilter,
    attach_progress,
    filter_sagas,
    redrive_report,
    redriven_sagas,
    saga_names,
    search,
)
from django_saga.models import Saga, SagaStep
from tests.factories import SagaFactory
from tests.unit.console.helpers import build_saga, halted_saga, logged_in


# -- the list's filters ---------------------------------------------------
@pytest.mark.django_db
def test_the_filters_match_whole_states_names_and_keys():
    failed = build_saga("failed", name="order")
    done = build_saga("completed", name="order")
    refund = build_saga("completed", name="refund")
    Saga.objects.filter(pk=refund.pk).update(key="r-1")

    def matched(**params: str) -> set[str]:
        return {saga.pk for saga in filter_sagas(Saga.objects.all(), params)}

    assert matched() == {failed.pk, done.pk, refund.pk}
    assert matched(state="completed") == {done.pk, refund.pk}
    assert matched(state="completed", name="order") == {done.pk}
    assert matched(name="ord") == set()
    assert matched(key="r-1") == {refund.pk}
    assert matched(key="r-") == set()


@pytest.mark.parametrize("param", TEXT_FILTERS)
def test_a_text_filter_holding_a_nul_is_refused_by_name(param):
    with pytest.raises(BadFilter, match=rf"^The filter '{param}' holds a NUL character"):
        filter_sagas(Saga.objects.all(), {param: "a\x00b"})


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["name", "key", "q"])
def test_the_json_list_refuses_a_nul_filter_with_400_naming_it(viewer, param):
    build_saga("failed", name="order")
    response = logged_in(viewer).get(reverse("django_saga:api-list"), {param: "\x00"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["message"].startswith(f"The filter '{param}' holds a NUL character")


@pytest.mark.django_db
def test_a_search_finds_an_id_else_a_key_else_part_of_a_name_in_any_case():
    order = build_saga("completed", name="order")
    refund = build_saga("completed", name="Refund")
    Saga.objects.filter(pk=order.pk).update(key="fun")
    everything = Saga.objects.all()

    def found(query: str) -> list[str]:
        return [saga.pk for saga in search(everything, query)]

    assert found(refund.pk.lower()) == [refund.pk]
    # A key is matched whole, and before any name that contains it.
    assert found("fun") == [order.pk]
    assert found("FUN") == [refund.pk]
    assert found("nothing") == []
    assert found("a\x00b") == []


@pytest.mark.django_db
def test_saga_names_are_each_name_once_in_order():
    for name in ("refund", "order", "refund", "shipment", "order"):
        build_saga("completed", name=name)
    assert saga_names() == ["order", "refund", "shipment"]
    assert saga_names(limit=2) == ["order", "refund"]


# -- progress -------------------------------------------------------------
@pytest.mark.django_db
def test_progress_counts_the_steps_that_ran_for_a_page_of_sagas_in_one_query(
    django_assert_num_queries,
):
    failed = build_saga("failed")
    undone = build_saga("compensated")
    done = build_saga("completed")
    SagaStep.objects.filter(saga=done, name="b").update(status="skipped")
    empty = SagaFactory()
    sagas = list(Saga.objects.order_by("pk"))
    with django_assert_num_queries(1):
        attach_progress(sagas)
    progress = {saga.pk: (saga.steps_done, saga.steps_total) for saga in sagas}
    # A step undone since, or skipped, ran: only the failed one did not.
    assert progress == {
        failed.pk: (1, 2),
        undone.pk: (1, 2),
        done.pk: (2, 2),
        empty.pk: (0, 0),
    }


# -- re-drives --------------------------------------------------------------
@pytest.mark.django_db
def test_a_redrive_report_says_who_asked_why_and_where_its_sagas_stand():
    assert redrive_report("NOPE") is None
    sagas = sorted((halted_saga() for _ in range(3)), key=lambda saga: saga.pk)
    sent = manager.redrive([s.pk for s in sagas], rate=2, by="alice", reason="carrier is back")
    report = redrive_report(sent.batch)
    assert report is not None
    assert (report.by, report.reason, report.sagas, report.counts) == (
        "alice",
        "carrier is back",
        3,
        {"started": 3},
    )
    # Three sagas, two a second: the last is sent a second after the first.
    pacing = (report.sending_until - report.started_at).total_seconds()
    assert pacing == pytest.approx(1.0, abs=0.25)
    assert report.moving == 3 and report.under_way(report.sending_until)

    Saga.objects.filter(pk__in=[s.pk for s in sagas[1:]]).update(state="completed")
    Saga.objects.filter(pk=sagas[0].pk).update(state="halted")
    settled = redrive_report(sent.batch)
    assert settled is not None and settled.moving == 0
    assert settled.under_way(settled.sending_until - timedelta(seconds=0.1))
    assert not settled.under_way(settled.sending_until)
    assert [s.pk for s in redriven_sagas(sent.batch, ["halted"])] == [sagas[0].pk]
    assert [s.pk for s in redriven_sagas(sent.batch, ["completed"])] == [s.pk for s in sagas[1:]]


# -- every query of the operator pages is served by an index (PostgreSQL) --
# 30,000 sagas and 90,000 steps are enough for the planner to prefer an index
# wherever one can serve a query. Each page is requested, every query it ran
# on the saga tables is run again under ``EXPLAIN (ANALYZE, BUFFERS)``, and
# none may scan a saga table sequentially (unless a LIMIT stops the scan
# early, as when counting up to 10,000 of the most common state) or touch
# more than a small, fixed number of pages: what a list page costs must not
# grow with the history. Last in this module: the history is committed, and
# removed only once the module's tests are done.
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


@pytest.mark.postgres
@pytest.mark.django_db
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
