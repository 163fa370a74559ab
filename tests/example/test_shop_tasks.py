"""The shop asks people: a refund manager approves large refunds (the
directors, once it waits too long), and a clerk confirms a known customer's
new address. Tested as a project tests its own, with the test kit."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import TestCase

from django_saga import manager
from django_saga.models import TaskOffer
from django_saga.testing import SagaTestKit
from example_project.shop.models import Order, Payment, Product
from example_project.shop.orders import place_order
from example_project.shop.refunds import request_refund


def member(name: str, group: str):
    user = get_user_model().objects.create(username=name)
    user.groups.add(Group.objects.get(name=group))
    return user


class RefundTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.manager = member("mia", "refund-managers")
        cls.director = member("dan", "shop-directors")
        customer = Order.objects.create(customer="ada", address="1 Main Street")
        cls.order = customer
        Payment.objects.create(
            order=customer, amount=Decimal("800"), idempotency_key="k", status="charged"
        )

    def setUp(self) -> None:
        self.kit = self.enterContext(SagaTestKit())

    def test_a_small_refund_is_given_back_at_once(self) -> None:
        saga = request_refund(self.order, Decimal("30.00"), "one mug broken")
        self.kit.run()
        self.kit.assert_saga(saga, "completed", ran=["refund_payment"])
        self.assertEqual(Payment.objects.get().status, "refunded")

    def test_a_large_refund_waits_for_a_manager_s_approval(self) -> None:
        saga = request_refund(self.order, Decimal("800.00"), "the whole order came back")
        self.kit.run()
        task = self.kit.task(saga, "approve_refund")
        self.assertEqual(
            task.shown,
            {
                "Order": self.order.number,
                "Customer": "ada",
                "Amount": "800.00",
                "Why": "the whole order came back",
            },
        )
        self.assertEqual(manager.tasks(self.manager), [task])
        self.assertEqual(Payment.objects.get().status, "charged")
        self.kit.complete_task(saga, "approve_refund", {"comment": "parcel received"}, by="mia")
        self.kit.assert_saga(saga, "completed")
        self.assertEqual(Payment.objects.get().status, "refunded")

    def test_a_rejected_refund_gives_nothing_back(self) -> None:
        saga = request_refund(self.order, Decimal("800.00"), "changed my mind")
        self.kit.run()
        self.kit.reject_task(saga, "approve_refund", "past the return period", by="mia")
        self.assertEqual(self.kit.saga(saga).state, "compensated")
        self.assertEqual(Payment.objects.get().status, "charged")

    def test_a_refund_nobody_approves_in_four_hours_goes_to_the_directors(self) -> None:
        saga = request_refund(self.order, Decimal("800.00"), "the whole order came back")
        self.kit.run()
        self.kit.advance(hours=4)
        task = self.kit.task(saga, "approve_refund")
        self.assertEqual(list(TaskOffer.objects.values_list("name", flat=True)), ["shop-directors"])
        self.assertEqual(manager.tasks(self.manager), [])
        self.assertEqual(manager.tasks(self.director), [task])
        self.kit.complete_task(saga, "approve_refund", {}, by="dan")
        self.assertEqual(Payment.objects.get().status, "refunded")


class NewAddressTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        Product.objects.create(sku="mug", name="Mug", stock=5, price=Decimal("9"))
        cls.clerk = member("cleo", "clerks")

    def setUp(self) -> None:
        self.kit = self.enterContext(SagaTestKit())

    def test_a_first_order_and_a_known_address_are_not_asked_about(self) -> None:
        for _ in range(2):
            saga = place_order("ada", "mug", 1, Decimal("9.00"))
            self.kit.run()
            self.assertNotIn("confirm_address", [s.name for s in self.kit.saga(saga).steps])

    def test_a_known_customer_s_new_address_waits_for_a_clerk(self) -> None:
        place_order("ada", "mug", 1, Decimal("9.00"))
        saga = place_order("ada", "mug", 1, Decimal("9.00"), address="9 New Road")
        self.kit.run()
        task = self.kit.task(saga, "confirm_address")
        self.assertEqual(task.shown, {"Customer": "ada", "Address": "9 New Road"})
        self.assertEqual(self.kit.saga(saga).step("reserve_inventory").status, "pending")
        self.kit.complete_task(saga, "confirm_address", {"comment": "called her"}, by="cleo")
        self.assertEqual(self.kit.saga(saga).step("request_payment").status, "waiting")

    def test_a_new_address_nobody_confirms_in_time_cancels_the_order(self) -> None:
        place_order("ada", "mug", 1, Decimal("9.00"))
        saga = place_order("ada", "mug", 1, Decimal("9.00"), address="9 New Road")
        self.kit.run()
        self.kit.advance(hours=8)
        done = self.kit.saga(saga)
        self.assertEqual(done.state, "compensated")
        self.assertIn(
            "no clerk confirmed the new address in time", done.step("confirm_address").error
        )
        self.assertEqual(Order.objects.get(saga_id=saga.pk).status, Order.Status.CANCELLED)
