"""A small shop: products with stock, orders of several lines, reservations,
pickups booked for the parcels, and payments."""

from django.db import models


class Product(models.Model):
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    stock = models.PositiveIntegerField(default=0)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.sku} ({self.stock} in stock)"


class Order(models.Model):
    class Status(models.TextChoices):
        CREATED = "created"
        CONFIRMED = "confirmed"
        CANCELLED = "cancelled"

    # Set in the transaction that creates the order, once its saga is started.
    saga_id = models.CharField(max_length=26, unique=True, null=True, blank=True)
    customer = models.CharField(max_length=100)
    address = models.CharField(max_length=200, blank=True, default="")
    gift_wrap = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    # When the "your order is on its way" reminder went out (a sleep after shipping).
    reminded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"

    @property
    def number(self) -> str:
        """What customers and the payment provider call the order: its saga's key."""
        return f"order-{self.pk}"


class OrderLine(models.Model):
    """One product of an order, and how many: each line is reserved on its own."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product.sku}"


class Reservation(models.Model):
    class Status(models.TextChoices):
        HELD = "held"
        RELEASED = "released"

    line = models.OneToOneField(OrderLine, on_delete=models.CASCADE)
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.HELD)

    def __str__(self) -> str:
        return f"reservation {self.pk} ({self.status})"


class Pickup(models.Model):
    """A courier's pickup booked for one parcel of an order (a child saga of
    the order's): booked before the payment, cancelled if the order is."""

    class Status(models.TextChoices):
        BOOKED = "booked"
        CANCELLED = "cancelled"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="pickups")
    parcel = models.PositiveIntegerField()
    units = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOOKED)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "parcel"], name="shop_pickup_per_parcel")
        ]

    def __str__(self) -> str:
        return f"pickup of parcel {self.parcel} of order {self.order_id} ({self.status})"


class Payment(models.Model):
    """A payment asked of the (simulated) provider, which answers through the webhook."""

    class Status(models.TextChoices):
        REQUESTED = "requested"
        CHARGED = "charged"
        REFUNDED = "refunded"
        # Never charged: the order was cancelled first.
        VOIDED = "voided"

    order = models.OneToOneField(Order, on_delete=models.CASCADE)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    # The saga step's idempotency key: "<saga id>:<step id>", what the provider reports back.
    idempotency_key = models.CharField(max_length=60, unique=True)
    # The step's attempt this request belongs to: the provider names it in its report.
    attempt = models.PositiveIntegerField(default=1)
    # The step's report token for that attempt: the provider sends it back, so that its
    # report cannot complete a later saga for the same order number.
    report_token = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED)
    charge_id = models.CharField(max_length=40, blank=True, default="")

    def __str__(self) -> str:
        return f"payment {self.pk}: {self.amount} ({self.status})"


class StockReport(models.Model):
    """What the nightly stock report found: each product's stock at its tick."""

    # The schedule's tick it was taken for (or when an operator ran it by hand).
    tick = models.DateTimeField()
    taken_at = models.DateTimeField(auto_now_add=True)
    stock = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"stock report for {self.tick.isoformat()}"
