"""``manage.py saga_demo``: run a batch of order sagas and print how each ended.

Each order reserves stock and checks the address in parallel, is gift wrapped
only if asked, waits for the (simulated) payment provider's webhook, has its
payment captured (the pivot: no undoing after it) and is shipped. Orders to
an island halt after the capture, as the express courier does not go there;
the demo then repairs them the way an operator would, with ``retry_step``.

On RabbitMQ the demo's exchanges and queues are the shop's own
(``example_shop.*``, see ``SAGA_BROKER_PREFIX``), and it deletes them when it
ends, unless something else still uses them (an engine of the shop): then it
names what it left, for ``--delete-topology`` to delete later.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pika
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from django_saga.api import manager
from django_saga.conf import broker_urls, safe_url, saga_settings
from django_saga.engine import Engine
from django_saga.errors import BrokerUnavailable
from django_saga.models import Saga, SagaState
from example_project.shop.models import Order, Payment, Product
from example_project.shop.orders import OrderSaga, place_order
from example_project.shop.provider import FakePaymentProvider, in_process_sender


@dataclass(frozen=True)
class Scenario:
    name: str
    sku: str
    quantity: int
    amount: Decimal
    expected: str
    address: str = "1 Main Street"
    gift_wrap: bool = False


SCENARIOS = [
    Scenario("in stock, paid", "widget", 1, Decimal("20.00"), "completed"),
    Scenario("gift wrapped, paid", "widget", 2, Decimal("40.00"), "completed", gift_wrap=True),
    Scenario("in stock, paid", "widget", 1, Decimal("20.00"), "completed"),
    Scenario("more than the stock", "gadget", 5, Decimal("100.00"), "compensated"),
    Scenario("payment declined", "widget", 1, Decimal("900.00"), "compensated"),
    Scenario("unknown address", "widget", 1, Decimal("20.00"), "compensated", address="Nowhere"),
    Scenario(
        "island: halted, repaired", "widget", 1, Decimal("20.00"), "completed", address="Far Island"
    ),
]
#: What the demo's operator says when it sends halted orders by ferry.
REPAIR_REASON = "express does not deliver to islands: sent by ferry instead"
WIDGET_STOCK = 1_000_000
GADGET_STOCK = 3


def _place(n: int, scenario: Scenario) -> Saga:
    """Place one order, as the shop's checkout view would."""
    with _request_span("POST /orders") as span:
        if span is not None:
            span.set_attribute("shop.scenario", scenario.name)
        return place_order(
            f"customer-{n}",
            scenario.sku,
            scenario.quantity,
            scenario.amount,
            address=scenario.address,
            gift_wrap=scenario.gift_wrap,
        )


def _request_span(name: str) -> contextlib.AbstractContextManager[Any]:
    """A span standing in for the checkout request, if OpenTelemetry is installed:
    the order's saga, its steps and compensations show up under it (see the
    tracing guide). Nothing without it."""
    try:
        from opentelemetry import trace
    except ImportError:
        return contextlib.nullcontext()
    return trace.get_tracer("example_project.shop").start_as_current_span(name)


def _parameters(url: str) -> pika.URLParameters:
    """pika's parameters for ``url``, with ``SAGA['BROKER_PASSWORD']`` put in if set."""
    password = saga_settings.BROKER_PASSWORD
    if password:
        parts = urlsplit(url)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user.partition(':')[0] or 'guest'}:{quote(password, safe='')}@{host}"
        url = urlunsplit(parts._replace(netloc=netloc))
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5
    return params


def _refusal(kind: str, exc: pika.exceptions.ChannelClosedByBroker) -> str:
    if exc.reply_code == 406:  # PRECONDITION_FAILED: if_unused did not hold
        return (
            "in use: something still consumes from it (an engine of the shop?)"
            if kind == "queue"
            else "in use: a queue is still bound to it"
        )
    return f"the broker refused: {exc.reply_text}"


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
        self._stock_shelves()
        thread = threading.Thread(target=engine.run, name="saga-demo-engine", daemon=True)
        thread.start()
        engine.ready.wait(30)
        provider = FakePaymentProvider(in_process_sender())
        try:
            began = time.perf_counter()
            started = [
                (scenario, _place(n, scenario))
                for n in range(options["sagas"])
                for scenario in [SCENARIOS[n % len(SCENARIOS)]]
            ]
            ids = [saga.id for _, saga in started]
            # Before the provider answers, the first order's saga surely waits
            # for its payment: starting it again must return it.
            again = self._start_again(started[0][1])
            provider.start()
            finished = self._wait(ids, options["timeout"])
            repaired = self._repair(finished)
            if repaired:
                finished = self._wait(ids, options["timeout"])
            elapsed = time.perf_counter() - began
        finally:
            provider.stop()
            if provider.ident is not None:
                provider.join(30)
            engine.stop()
            thread.join(30)
        ok = self._report(started, finished, elapsed)
        self.stdout.write(
            f"Payment provider: {provider.calls} webhook calls, answered by order number"
        )
        line, same = again
        self.stdout.write(line)
        ok = ok and same
        self.stdout.write(
            f"Halted after the payment's capture and repaired by retry_step: {repaired} "
            f"order(s) ({REPAIR_REASON})"
        )
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
        queues = (saga_settings.STEP_QUEUE, saga_settings.COMPENSATE_QUEUE)
        self.stdout.write(
            f"Transport: RabbitMQ at {safe_url(connected)}, on queues {', '.join(queues)} "
            "(the demo deletes its queues and exchanges when it ends)"
        )
        return engine, connected

    def _delete_topology(self, url: str) -> bool:
        """Delete the exchanges and queues the demo declared, each unless something
        else uses it (another process of the shop consuming, say): those are named,
        with how to delete them later. No other project's messages are in them:
        their names are the shop's own. Whether all are gone."""
        queues = [
            saga_settings.STEP_QUEUE,
            saga_settings.COMPENSATE_QUEUE,
            saga_settings.DEAD_LETTER_QUEUE,
        ]
        exchanges = [saga_settings.EXCHANGE, saga_settings.DEAD_LETTER_EXCHANGE]
        left: list[tuple[str, str, str]] = []  # (kind, name, why)
        gone: list[str] = []
        discarded = 0
        vhost = "/"
        try:
            params = _parameters(url)
            vhost = params.virtual_host
            connection = pika.BlockingConnection(params)
        except (pika.exceptions.AMQPError, OSError, ValueError, TypeError) as exc:
            why = f"could not connect: {exc!r}"
            left = [("queue", q, why) for q in queues] + [("exchange", e, why) for e in exchanges]
        else:
            try:
                for queue in queues:
                    try:
                        deleted = connection.channel().queue_delete(queue, if_unused=True)
                        discarded += deleted.method.message_count
                        gone.append(queue)
                    except pika.exceptions.ChannelClosedByBroker as exc:
                        left.append(("queue", queue, _refusal("queue", exc)))
                for exchange in exchanges:
                    try:
                        connection.channel().exchange_delete(exchange, if_unused=True)
                        gone.append(exchange)
                    except pika.exceptions.ChannelClosedByBroker as exc:
                        left.append(("exchange", exchange, _refusal("exchange", exc)))
            except pika.exceptions.AMQPError as exc:
                why = f"the connection failed: {exc!r}"
                done = gone + [name for _, name, _ in left]
                left += [("queue", q, why) for q in queues if q not in done]
                left += [("exchange", e, why) for e in exchanges if e not in done]
            finally:
                with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                    connection.close()
        if not left:
            self.stdout.write(
                f"RabbitMQ: deleted the demo's queues ({', '.join(queues)}) and exchanges "
                f"({', '.join(exchanges)}) from vhost {vhost!r}"
                + (f", and the {discarded} message(s) still in them" if discarded else "")
            )
            return True
        lines = [f"RabbitMQ: the demo left these in vhost {vhost!r}:"]
        lines += [f"  {kind} {name}: {why}" for kind, name, why in left]
        lines.append(
            "Delete them once nothing uses them: ./run demo --delete-topology "
            "(python manage.py saga_demo --delete-topology)"
        )
        self.stdout.write(self.style.WARNING("\n".join(lines)))
        return False

    def _stock_shelves(self) -> None:
        for sku, name, stock, price in [
            ("widget", "Widget", WIDGET_STOCK, Decimal("20.00")),
            ("gadget", "Gadget", GADGET_STOCK, Decimal("20.00")),
        ]:
            Product.objects.update_or_create(
                sku=sku, defaults={"name": name, "stock": stock, "price": price}
            )

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

    def _start_again(self, saga: Saga) -> tuple[str, bool]:
        """Start the first order's saga a second time, as a retried request would:
        its key (the order number) returns the saga already running."""
        order = Order.objects.get(saga_id=saga.pk)
        again = OrderSaga(
            order_id=order.pk,
            customer=order.customer,
            sku=order.product.sku,
            quantity=order.quantity,
            amount=Decimal("0"),
            address=order.address,
            gift_wrap=order.gift_wrap,
            courier="express",
        ).start()
        same = again.pk == saga.pk and again.created is False
        got = "the same saga" if same else "ANOTHER saga"
        return f"Started {order.number}'s saga again, with its key: got {got} ({again.pk})", same

    def _repair(self, finished: dict[str, Saga]) -> int:
        """Send halted orders again by ferry, as an operator would: nothing is undone."""
        halted = [saga for saga in finished.values() if saga.state == SagaState.HALTED]
        for saga in halted:
            manager.retry_step(
                saga.pk, "ship_order", {"courier": "ferry"}, by="saga_demo", reason=REPAIR_REASON
            )
        return len(halted)

    def _report(
        self, started: list[tuple[Scenario, Saga]], finished: dict[str, Saga], elapsed: float
    ) -> bool:
        rows: dict[str, Counter[str]] = {}
        expected: dict[str, str] = {}
        examples: dict[str, Saga] = {}
        for scenario, saga in started:
            name = scenario.name
            final = finished[saga.id]
            rows.setdefault(name, Counter())[final.state] += 1
            expected[name] = scenario.expected
            examples.setdefault(name, final)
        header = (
            f"{'scenario':<26}{'expected':<13}{'sagas':>6}{'completed':>11}"
            f"{'compensated':>13}{'other':>7}"
        )
        self.stdout.write("")
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        all_ok = True
        for name, counts in rows.items():
            total = sum(counts.values())
            other = total - counts["completed"] - counts["compensated"]
            all_ok &= counts[expected[name]] == total
            self.stdout.write(
                f"{name:<26}{expected[name]:<13}{total:>6}{counts['completed']:>11}"
                f"{counts['compensated']:>13}{other:>7}"
            )
        self.stdout.write("")
        for name, saga in examples.items():
            steps = ", ".join(
                f"{s.name}={s.status}" + (f" ({s.error})" if s.error else "")
                for s in sorted(saga.step_set.all(), key=lambda s: s.position)
            )
            self.stdout.write(f"{name}: saga {saga.pk} {saga.state}: {steps}")
        completed = sum(c["completed"] for c in rows.values())
        widget = Product.objects.get(sku="widget").stock
        gadget = Product.objects.get(sku="gadget").stock
        completed_ids = [saga.id for _, saga in started if finished[saga.id].is_completed()]
        sold = sum(
            scenario.quantity
            for scenario, saga in started
            if finished[saga.id].is_completed() and scenario.sku == "widget"
        )
        stock_ok = widget == WIDGET_STOCK - sold and gadget == GADGET_STOCK
        charged = Payment.objects.filter(
            order__saga_id__in=[saga.id for _, saga in started], status=Payment.Status.CHARGED
        )
        payments_ok = sorted(charged.values_list("order__saga_id", flat=True)) == sorted(
            completed_ids
        )
        self.stdout.write("")
        self.stdout.write(
            f"Stock after: widget {widget} (expected {WIDGET_STOCK - sold}), "
            f"gadget {gadget} (expected {GADGET_STOCK}): "
            + ("consistent" if stock_ok else "INCONSISTENT")
        )
        self.stdout.write(
            "Payments: charged exactly for the completed orders"
            if payments_ok
            else "Payments: INCONSISTENT with the completed orders"
        )
        self.stdout.write(
            f"{len(started)} sagas ({completed} completed) in {elapsed:.2f}s: "
            f"{len(started) / elapsed:.1f} sagas/s on {connection.vendor}"
        )
        return all_ok and stock_ok and payments_ok
