"""What every unit offers flow control: work after its own rows are written,
in order, once."""

from __future__ import annotations

from django_saga.stores.memory import MemoryStore, MemoryUnit
from tests.unit.flow.helpers import build


def test_work_after_the_flush_runs_once_in_order_and_may_add_more():
    unit = MemoryUnit(build(("a",)), None, fast_path=False, store=MemoryStore())
    done: list[str] = []
    unit.after_flush(lambda: done.append("first"))
    unit.after_flush(
        lambda: (done.append("second"), unit.after_flush(lambda: done.append("third")))
    )
    unit.run_flushed()
    unit.run_flushed()
    assert done == ["first", "second", "third"]
    # A new unit holds no slot, runs no released message and has no turn.
    assert (unit.slots, unit.gates, unit.released, unit.rated) == (set(), set(), None, False)
