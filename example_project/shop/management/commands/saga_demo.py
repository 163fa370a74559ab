"""``manage.py saga_demo``: run a batch of order sagas and print how each ended;
then ask people for two refunds (``demo.people``): one approved, one left
to the shop's directors.

The orders, one per scenario in turn, and what the demo's operator does are
in ``example_project.shop.demo.scenarios``; the table of how they ended in
``demo.report``. On RabbitMQ the demo's exchanges and queues are the shop's
own (``example_shop.*``, see ``SAGA_BROKER_PREFIX``), and it deletes them when
it ends, unless something else still uses them (an engine of the shop): then
it names what it left, for ``--delete-topology`` to delete later
(``demo.topology``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_saga.conf import broker_urls, safe_url, saga_settings
from django_saga.engine import Engine
from django_saga.errors import BrokerUnavailable
from django_saga.models import Saga
from example_project.shop.demo.people import ask_people
from example_project.shop.demo.report import report
from example_project.shop.demo.scenarios import (
    REPAIR_REASON,
    SCENARIOS,
    place,
    provider_back,
    provider_down,
    repair,
    run_report_now,
    start_again,
    stock_shelves,
    waiting_for_provider,
)
from example_project.shop.demo.topology import delete_topology
from example_project.shop.provider import FakePaymentProvider, in_process_sender


class Command(BaseCommand):
    help = "Start a batch of order sagas, wait for them, and print a table of outcomes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sagas", type=int, default=30, help="How many sagas (default 30).")
        parser.add_argument("--concurrency", type=int, help="Engine handler threads.")
        parser.add_argument("--timeout", type=float, default=120, help="Seconds to wait.")
        parser.add_argument(
            "--transport",
            choices=["auto", "amqp", "memory"],
            default="auto",
            help="auto: RabbitMQ if reachable, else the in-process transport.",
        )
        parser.add_argument(
            "--delete-topology",
            action="store_true",
            help="Only delete the demo's queues and exchanges from RabbitMQ (what an "
            "earlier run had to leave), then exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verbosity"] < 2:
            logging.getLogger("django_saga").setLevel(logging.ERROR)
        if options["delete_topology"]:
            urls = broker_urls(saga_settings.BROKER_URL)
            if not urls or urls[0].startswith("memory://"):
                raise CommandError("SAGA_BROKER_URL names no RabbitMQ: nothing to delete")
            if not self._delete_topology(urls[0]):
                raise CommandError("Some of the demo's queues and exchanges are still there")
            return
        call_command("migrate", interactive=False, verbosity=0)
        engine, broker = self._engine(options["transport"], options["concurrency"])
        try:
            self._demo(engine, options)
        finally:
            if broker is not None:
                self._delete_topology(broker)

    def _demo(self, engine: Engine, options: dict[str, Any]) -> None:
        stock_shelves()
        thread = threading.Thread(target=engine.run, name="saga-demo-engine", daemon=True)
        thread.start()
        engine.ready.wait(30)
        provider = FakePaymentProvider(in_process_sender())
        try:
            began = time.perf_counter()
            provider_down()
            started = [
                (scenario, place(n, scenario))
                for n in range(options["sagas"])
                for scenario in [SCENARIOS[n % len(SCENARIOS)]]
            ]
            ids = [saga.id for _, saga in started]
            # Before the provider answers, the first order's saga surely waits
            # for its payment: starting it again must return it.
            again = start_again(started[0][1])
            outage = provider_back(self._wait_for_provider(ids, options["timeout"]))
            provider.start()
            finished = self._wait(ids, options["timeout"])
            repaired = repair(finished)
            if repaired:
                finished = self._wait(ids, options["timeout"])
            elapsed = time.perf_counter() - began
            # The table first: the refunds below change payments it checks.
            lines, ok = report(started, finished, elapsed)
            scheduled, report_saga = run_report_now()
            reported = self._wait([report_saga.pk], options["timeout"])[report_saga.pk]
            completed = [pk for pk, saga in finished.items() if saga.state == "completed"]
            asked, asked_ok = ask_people(completed, options["timeout"])
        finally:
            provider.stop()
            if provider.ident is not None:
                provider.join(30)
            engine.stop()
            thread.join(30)
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(
            f"Payment provider: {provider.calls} webhook calls, answered by order number"
        )
        self.stdout.write(outage)
        line, same = again
        self.stdout.write(line)
        ok = ok and same
        self.stdout.write(
            f"Halted after the payment's capture and repaired by retry_step: {repaired} "
            f"order(s) ({REPAIR_REASON})"
        )
        self.stdout.write(scheduled)
        stock = reported.step("count_stock").output.get("stock", {})
        self.stdout.write(f"Stock report: {reported.state}, {stock}")
        ok = ok and reported.state == "completed"
        for line in asked:
            self.stdout.write(line)
        ok = ok and asked_ok
        if not ok:
            raise CommandError("Some sagas did not end as expected (see the table above).")

    def _engine(self, transport: str, concurrency: int | None) -> tuple[Engine, str | None]:
        """The demo's engine, and the RabbitMQ URL it connected to (None in process)."""
        url = saga_settings.BROKER_URL
        if transport == "memory" or url.startswith("memory://"):
            self.stdout.write("Transport: in-process (memory://demo), as asked.")
            return Engine(broker_url="memory://demo", concurrency=concurrency), None
        engine = Engine(broker_url=url, concurrency=concurrency)
        try:
            connection = engine.connect()
        except BrokerUnavailable as exc:
            if transport == "amqp":
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                self.style.WARNING(
                    f"RabbitMQ is not reachable at {safe_url(url)}: running on the in-process "
                    "transport instead (messages stay in this process)."
                )
            )
            return Engine(broker_url="memory://demo", concurrency=concurrency), None
        connected = getattr(connection, "url", url)
        queues = (
            saga_settings.STEP_QUEUE,
            saga_settings.COMPENSATE_QUEUE,
            saga_settings.PRIORITY_QUEUE,
        )
        self.stdout.write(
            f"Transport: RabbitMQ at {safe_url(connected)}, on queues {', '.join(queues)} "
            "(the demo deletes its queues and exchanges when it ends)"
        )
        return engine, connected

    def _delete_topology(self, url: str) -> bool:
        """Delete the demo's queues and exchanges (see ``demo.topology``), saying
        what went or what was left; whether all are gone."""
        gone, said = delete_topology(url)
        self.stdout.write(said if gone else self.style.WARNING(said))
        return gone

    def _wait_for_provider(self, ids: list[str], timeout: float) -> int:
        """Until every order has finished or waits for the paused provider:
        how many wait."""
        deadline = time.monotonic() + timeout
        while (waiting := waiting_for_provider(ids)) is None:
            if time.monotonic() > deadline:
                raise CommandError("The orders did not all reach the paused provider in time.")
            time.sleep(0.05)
        return waiting

    def _wait(self, ids: list[str], timeout: float) -> dict[str, Saga]:
        deadline = time.monotonic() + timeout
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            still = set(
                Saga.objects.filter(
                    pk__in=pending, state__in=["started", "compensating"]
                ).values_list("pk", flat=True)
            )
            pending = still
            if pending:
                time.sleep(0.05)
        return {s.pk: s for s in Saga.objects.filter(pk__in=ids).prefetch_related("step_set")}
