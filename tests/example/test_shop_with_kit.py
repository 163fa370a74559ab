"""The example shop's sagas, tested the way a project tests its own: a
``TestCase``, the shop's code as it is, and ``django_saga.testing``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.test import TestCase

from django_saga import manager
from django_saga.schedules.sync import sync
from django_saga.testing import SagaTestKit
from example_project.shop.models import Order, Payment, Product, Reservation, StockReport
from example_project.shop.orders import place_order

#: What a compensated order undoes, in order: the payment request, the
#: parcel's saga (one parcel of up to two units), the line's reservation, the order.
UNDONE = ["request_payment", "prepare_parcels[0]", "reserve_inventory[0]", "accept_order"]


class OrderSagaTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.product = Product.objects.create(sku="mug", name="Mug", stock=5, price=Decimal("9"))

    def setUp(self) -> None:
        self.kit = self.enterContext(SagaTestKit())

    def order(self, quantity: int = 1, **options):
        """Place an order as the shop's view does, and run its saga as far as it goes."""
        saga = place_order("ada", "mug", quantity, Decimal("9.00"), **options)
        self.kit.run()
        return saga, Order.objects.get(saga_id=saga.pk)

    def test_an_order_completes_once_the_provider_confirms_the_payment(self) -> None:
        saga, order = self.order(3)
        self.assertEqual(self.kit.saga(saga).step("request_payment").status, "waiting")
        # The provider answers by the order's number, the saga's key.
        self.kit.complete_step(
            ("order_processing", order.number), "request_payment", {"charge_id": "ch_1"}
        )
        # Shipped and confirmed: the reminder waits a day, at no cost.
        self.assertEqual(self.kit.saga(saga).step("before_reminder").status, "started")
        self.assertIsNone(Order.objects.get(pk=order.pk).reminded_at)
        self.kit.advance(days=1)
        self.kit.assert_saga(
            saga,
            "completed",
            skipped=["gift_wrap"],
            compensated=[],
            # Three units: one line reserved, two parcels, each its own saga.
            items={"reserve_inventory": {"completed": 1}, "prepare_parcels": {"completed": 2}},
            children={"prepare_parcels[0]": "completed", "prepare_parcels[1]": "completed"},
        )
        ran = [
            e.step
            for e in self.kit.timeline(saga)
            if e.outcome == "completed" and e.kind in ("execute", "outside", "child")
        ]
        # The parcels' sagas run side by side: they end in either order.
        parcels = {"prepare_parcels", "prepare_parcels[0]", "prepare_parcels[1]"}
        self.assertEqual(sorted(parcels), sorted(s for s in ran if s in parcels))
        self.assertEqual(
            [s for s in ran if s not in parcels],
            [
                "accept_order",
                "validate_address",
                # A map completes with its last item.
                "reserve_inventory",
                "reserve_inventory[0]",
                "pack_order",
                "request_payment",
                "capture_payment",
                "ship_order",
                "confirm_order",
                "before_reminder",
                "remind_on_its_way",
            ],
        )
        order.refresh_from_db()
        self.assertEqual(order.status, Order.Status.CONFIRMED)
        self.assertIsNotNone(order.reminded_at)
        self.assertEqual(Payment.objects.get(order=order).charge_id, "ch_1")
        self.product.refresh_from_db()
        self.assertEqual(self.product.stock, 2)
        self.assertEqual(
            list(order.pickups.order_by("parcel").values_list("parcel", "units", "status")),
            [(1, 2, "booked"), (2, 1, "booked")],
        )

    def test_out_of_stock_cancels_the_order(self) -> None:
        saga, order = self.order(6)
        self.kit.assert_saga(
            saga,
            "compensated",
            ran=["accept_order", "validate_address"],
            compensated=["accept_order"],
            items={"reserve_inventory": {"failed": 1}},
            children={},
        )
        self.assertIn("OutOfStock", self.kit.saga(saga).step("reserve_inventory[0]").error)
        order.refresh_from_db()
        self.assertEqual(order.status, Order.Status.CANCELLED)
        self.assertFalse(Reservation.objects.exists())

    def test_a_declined_payment_releases_the_stock_and_cancels_the_pickups(self) -> None:
        saga, order = self.order(2)
        self.kit.fail_step(saga, "request_payment", "declined")
        # The request reached the provider: it is voided, then the rest undone:
        # the parcel's own saga compensated, then the line's reservation.
        self.kit.assert_saga(
            saga,
            "compensated",
            compensated=UNDONE,
            children={"prepare_parcels[0]": "compensated"},
        )
        self.product.refresh_from_db()
        self.assertEqual(self.product.stock, 5)
        self.assertEqual(Payment.objects.get(order=order).status, Payment.Status.VOIDED)
        self.assertEqual(list(order.pickups.values_list("status", flat=True)), ["cancelled"])

    def test_an_operator_cancelling_a_waiting_order_voids_the_payment_request(self) -> None:
        saga, order = self.order(2)
        manager.compensate(saga.pk, by="clerk", reason="the customer called to cancel")
        self.kit.run()
        self.kit.assert_saga(
            saga,
            "compensated",
            compensated=UNDONE,
        )
        self.assertEqual(Payment.objects.get(order=order).status, Payment.Status.VOIDED)
        outcomes = [e.outcome for e in self.kit.timeline(saga) if e.step == "request_payment"]
        self.assertEqual(outcomes, ["waiting", "cancelled", "compensated"])

    def test_a_provider_that_never_answers_times_the_payment_out(self) -> None:
        saga, _ = self.order()
        wait = settings.SHOP_PAYMENT_TIMEOUT
        self.kit.advance(seconds=wait)
        # Asked again: the default policy retries a step that timed out.
        self.assertEqual(self.kit.saga(saga).step("request_payment").attempts, 2)
        self.kit.advance(seconds=2 * wait + 1)
        self.kit.assert_saga(
            saga,
            "compensated",
            compensated=UNDONE,
        )
        outcomes = [e.outcome for e in self.kit.timeline(saga) if e.step == "request_payment"]
        self.assertEqual(
            outcomes,
            ["waiting", "retrying", "waiting", "retrying", "waiting", "failed", "compensated"],
        )

    def test_an_island_order_halts_after_the_capture_and_is_repaired_by_hand(self) -> None:
        saga, order = self.order(address="4 Island Road")
        self.kit.complete_step(saga, "request_payment", {"charge_id": "ch_2"})
        self.kit.advance(seconds=1)  # the courier's retries, a fraction of a second apart
        halted = self.kit.assert_saga(saga, "halted", compensated=[])
        self.assertIn("CourierUnavailable", halted.step("ship_order").error)
        # Past the pivot nothing is undone: an operator ships it with another courier.
        manager.retry_step(saga.pk, "ship_order", {"courier": "boat"}, reason="ships by boat")
        self.kit.advance(days=1)  # the sleep before the "on its way" reminder
        done = self.kit.assert_saga(saga, "completed")
        self.assertEqual(done.step("ship_order").output["tracking"], f"boat-{order.pk}")
        self.assertEqual(
            [e for e in self.kit.timeline(saga) if e.step == "ship_order"],
            [
                ("execute", "ship_order", "retrying"),
                ("execute", "ship_order", "retrying"),
                ("execute", "ship_order", "failed"),
                ("execute", "ship_order", "resumed"),
                ("execute", "ship_order", "completed"),
            ],
        )


class NightlyStockReportTests(TestCase):
    """The shop's schedule, as an engine makes it when it starts, ticking on
    the kit's clock."""

    def setUp(self) -> None:
        start = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
        self.kit = self.enterContext(SagaTestKit(start))
        Product.objects.create(sku="mug", name="Mug", stock=5, price=Decimal("9"))
        sync("default")  # what saga_engine does when it starts

    def test_the_report_runs_each_night_at_two_in_berlin(self) -> None:
        # 02:00 in Berlin is 01:00 UTC in winter.
        self.assertEqual(self.kit.next_due(), datetime(2026, 12, 8, 1, 0, tzinfo=UTC))
        self.kit.advance(days=2)
        reports = list(StockReport.objects.order_by("tick"))
        self.assertEqual(
            [r.tick for r in reports],
            [datetime(2026, 12, 8, 1, 0, tzinfo=UTC), datetime(2026, 12, 9, 1, 0, tzinfo=UTC)],
        )
        self.assertEqual(reports[0].stock, {"mug": 5})

    def test_an_operator_runs_it_now_beside_its_ticks(self) -> None:
        saga = manager.run_schedule("nightly-stock-report", by="ada", reason="needed today")
        self.kit.run()
        self.kit.assert_saga(saga, "completed", ran=["count_stock", "file_report"])
        self.assertEqual(StockReport.objects.get().stock, {"mug": 5})
