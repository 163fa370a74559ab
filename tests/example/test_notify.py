"""The shop mails the people a task waits for: when it is offered, and
again when it goes to the next group, once per change."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.test import TestCase

from django_saga.testing import SagaTestKit
from example_project.shop.models import Order, Payment
from example_project.shop.refunds import request_refund


class TaskMailTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        for name, group, email in (
            ("mia", "refund-managers", "mia@shop.example"),
            ("max", "refund-managers", ""),  # no address: no mail
            ("dan", "shop-directors", "dan@shop.example"),
        ):
            user = get_user_model().objects.create(username=name, email=email)
            user.groups.add(Group.objects.get(name=group))
        cls.order = Order.objects.create(customer="ada", address="1 Main Street")
        Payment.objects.create(order=cls.order, amount=Decimal("900"), idempotency_key="k")

    def test_the_managers_are_mailed_then_the_directors_once_it_escalates(self) -> None:
        with SagaTestKit() as kit:
            saga = request_refund(self.order, Decimal("900.00"), "returned")
            kit.run()
            self.assertEqual([m.to for m in mail.outbox], [["mia@shop.example"]])
            sent = mail.outbox[0]
            self.assertEqual(sent.subject, "Waiting for you: Approve a refund")
            task = kit.task(saga, "approve_refund")
            self.assertIn("Amount: 900.00", sent.body)
            self.assertIn(f"/sagas/tasks/{task.pk}/", sent.body)
            kit.advance(hours=4)
            kit.advance(hours=4)
        self.assertEqual([m.to for m in mail.outbox], [["mia@shop.example"], ["dan@shop.example"]])
