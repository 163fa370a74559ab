"""``manage.py payment_provider --url URL``: the fake payment provider on its own.

For a shop run as separate processes (``runserver`` plus ``saga_engine``):
it answers the shop's payment requests through the webhook over HTTP.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from example_project.shop.provider import FakePaymentProvider, http_sender


class Command(BaseCommand):
    help = "Answer the shop's payment requests through the saga webhook, until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default="http://localhost:8000/sagas/webhook/",
            help="The webhook's address (default http://localhost:8000/sagas/webhook/).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        provider = FakePaymentProvider(http_sender(options["url"]), interval=0.5)
        self.stdout.write(f"Answering payment requests through {options['url']} (Ctrl-C stops)")
        try:
            while True:
                provider.answer_requests()
                if provider.stopped.wait(provider.interval):
                    break
        except KeyboardInterrupt:
            pass
