"""The colours both renderers use."""

from __future__ import annotations

from django_saga.diagram.palette import COLOURS, DASHED
from django_saga.models import StepStatus


def test_every_status_has_its_colours_and_a_definition_s_steps_their_own():
    assert set(COLOURS) == {"", *StepStatus.values}
    # The text of a box is never drawn in the colour of its fill.
    assert all(fill != ink for fill, _, ink in COLOURS.values())
    assert set(DASHED) <= set(StepStatus.values)
