"""The shop's nightly stock report: a saga started by a schedule (see ``sagas``)."""

from __future__ import annotations

from django_saga import SagaDefinition, Step


class StockReportSaga(SagaDefinition):
    """Count each product's stock, then keep the count for the schedule's tick."""

    name = "stock_report"

    def steps(self):
        return [
            Step("count_stock", "stock.count"),
            Step("file_report", "stock.file_report"),
        ]
