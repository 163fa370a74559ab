"""``SagaDefinition``: a saga declared once, started many times.

The step language it builds on (``Step``, ``parallel``) lives in ``steps``
and is re-exported here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .steps import (
    BaseDefinition,
    Declared,
    Parallel,
    StagedStep,
    Step,
    normalise_steps,
    parallel,
)

if TYPE_CHECKING:
    from .api import Manager
    from .models import Saga

__all__ = [
    "Declared",
    "Parallel",
    "SagaDefinition",
    "StagedStep",
    "Step",
    "normalise_steps",
    "parallel",
]


class SagaDefinition(BaseDefinition):
    """A saga declared once and started many times.

    Subclasses set ``name`` and ``version`` and build their steps from the
    parameters they are created with::

        class OrderSaga(SagaDefinition):
            name = "order"
            version = 2

            def steps(self):
                return [
                    Step("create_order", "orders.create", "orders.cancel", self.params),
                    parallel(
                        Step("reserve", "inventory.reserve", "inventory.release", ...),
                        Step("validate_address", "shipping.validate"),
                    ),
                    PaymentSaga(amount=self.params["amount"]),  # its steps, spliced in
                ]

        saga = OrderSaga(order_id=7, amount="30.00").start()

    Each saga records the definition's dotted path and version. Its steps are
    written out when it starts, so editing the class later changes only the
    sagas started after the edit; handlers can read ``saga.version`` to tell
    the two apart.
    """

    def start(
        self,
        *,
        deadline: datetime | timedelta | float | None = None,
        if_active: str = "return",
        manager: Manager | None = None,
        priority: str | None = None,
    ) -> Saga:
        """Start a saga from this definition (through ``manager``, or the default
        one); ``if_active`` and ``priority`` as for ``Manager.start()`` (the
        class's ``priority`` unless given)."""
        if manager is None:
            from .api import manager as default

            manager = default
        return manager.start_definition(
            self, deadline=deadline, if_active=if_active, priority=priority
        )
