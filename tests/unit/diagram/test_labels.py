"""The text both renderers write: one printable line, counts, and a step's status."""

from __future__ import annotations

from django_saga.diagram import Node
from django_saga.diagram.labels import clean, plural, status_label


def test_a_name_is_one_line_of_printable_text():
    assert clean("reserve\r\n\tstock") == "reserve stock"
    assert clean("a\x00b\x1fc\ud800d\uffff") == "a\ufffdb\ufffdc\ufffdd\ufffd"
    assert clean("caf\u00e9 \u6f22") == "caf\u00e9 \u6f22"


def test_a_status_is_told_in_signs_for_a_box_and_in_words_for_mermaid():
    node = Node("pay", "payment.capture", status="compensation_failed", attempts=2)
    assert status_label(node) == "compensation failed \u00b7 2\u00d7"
    assert status_label(node, short=False) == "compensation failed, 2 attempts"
    waited = Node("pay", "payment.capture", status="compensated", attempts=1, wait_undone=True)
    assert status_label(waited) == "wait failed, compensated \u00b7 1\u00d7"
    assert status_label(waited, short=False) == "compensated after its wait failed, 1 attempt"
    # Never run: no count; a status this version does not know is shown as it is.
    assert status_label(Node("ship", "x.ship", status="pending")) == "pending"
    assert status_label(Node("ship", "x.ship", status="paused")) == "paused"


def test_counts_are_grouped_and_plural_unless_one():
    assert plural(1, "more step") == "1 more step"
    assert plural(2981, "more stage") == "2,981 more stages"
    assert plural(0, "attempt") == "0 attempts"
