"""The shop's schedules, found by django-saga's autodiscovery of ``sagas.py``:
each engine makes their rows when it starts, and one of them starts each run."""

from django.conf import settings

from django_saga import schedule

from .reports import StockReportSaga

schedules = [
    schedule(
        "nightly-stock-report",
        StockReportSaga,
        cron=settings.SHOP_REPORT_CRON,
        timezone=settings.SHOP_TIME_ZONE,
    ),
]
