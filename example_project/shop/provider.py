"""A stand-in for an outside payment service, for the demo.

It watches for payments the shop requested, decides each one (amounts over
``SHOP_PAYMENT_LIMIT`` are declined) and reports back the way a real provider
would: a signed POST to django-saga's webhook. It keeps asking until the
webhook answers 200 (recorded, or a repeat) or 409 (the step stopped waiting).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.test import Client
from django.urls import reverse

from django_saga.webhook import signature_headers, webhook_secrets

from .models import Payment

logger = logging.getLogger("shop.provider")

#: Sends a body with its signature headers to the webhook and returns the HTTP status.
Sender = Callable[[bytes, dict[str, str]], int]


def in_process_sender() -> Sender:
    """POST through Django's request handling in this process (the demo)."""
    client = Client(SERVER_NAME="localhost")
    url = reverse("django_saga:webhook")

    def send(body: bytes, headers: dict[str, str]) -> int:
        response = client.post(url, body, content_type="application/json", headers=headers)
        return response.status_code

    return send


def http_sender(url: str) -> Sender:
    """POST over HTTP to a running server, e.g. http://localhost:8000/sagas/webhook/."""

    def send(body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(
            url, body, {"Content-Type": "application/json", **headers}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    return send


class FakePaymentProvider(threading.Thread):
    def __init__(self, send: Sender, interval: float = 0.05) -> None:
        super().__init__(name="fake-payment-provider", daemon=True)
        self.send = send
        self.interval = interval
        self.stopped = threading.Event()
        self.answered: set[int] = set()
        self.calls = 0

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                self.answer_requests()
        finally:
            connections.close_all()

    def answer_requests(self) -> None:
        secret = webhook_secrets()[0]
        requested = Payment.objects.filter(status=Payment.Status.REQUESTED).exclude(
            pk__in=self.answered
        )
        for payment in requested.select_related("order"):
            # The provider knows the shop's order number, not the saga's id:
            # it answers by the saga's name and key.
            report: dict[str, object] = {
                "saga_name": "order_processing",
                "key": payment.order.number,
                "step_id": "request_payment",
                "attempt": payment.attempt,
                "report_token": payment.report_token,
            }
            if payment.amount > settings.SHOP_PAYMENT_LIMIT:
                report.update(
                    status="failed",
                    error=f"declined: {payment.amount} is over the limit of "
                    f"{settings.SHOP_PAYMENT_LIMIT}",
                )
            else:
                report.update(status="completed", output={"charge_id": f"ch_{payment.pk}"})
            body = json.dumps(report).encode()
            # Signed as it is sent: the webhook refuses a timestamp far from its clock.
            status = self.send(body, signature_headers(body, secret))
            self.calls += 1
            if status in (200, 409):
                self.answered.add(payment.pk)
            else:
                logger.warning("Webhook answered %s for payment %s; will retry", status, payment.pk)
