"""``manage.py saga flow ...``: the limits handlers declare, and pauses of
actions and saga names from a shell, attributed and explained."""

from __future__ import annotations

import pytest

from django_saga.models import Pause

from .helpers import REASON, refused, saga

pytestmark = pytest.mark.django_db


def test_list_shows_each_declared_limit_and_that_nothing_is_paused():
    printed = saga("flow", "list")
    # The test app's limited handlers.
    assert "test.limited" in printed and "5 at a time" in printed
    assert "test.one_per_key" in printed and "1 at a time per key" in printed
    assert "test.paced" in printed and "20/s" in printed
    assert "Nothing is paused." in printed


def test_pause_and_resume_an_action_with_who_and_why():
    printed = saga("flow", "pause", "--action", "payment.*", *REASON, "--by", "ada")
    assert "Paused action payment.*" in printed
    listed = saga("flow", "list")
    assert "payment.*" in listed and "ada (named on the command line)" in listed
    printed = saga("flow", "resume", "--action", "payment.*", *REASON, "--by", "bob")
    assert "Resumed action payment.*" in printed
    pause = Pause.objects.get()
    assert (pause.paused_by, pause.resumed_by) == (
        "ada (named on the command line)",
        "bob (named on the command line)",
    )
    assert "Nothing is paused." in saga("flow", "list")


def test_refusals_are_the_managers_sentences():
    saga("flow", "pause", "--name", "order", *REASON)
    assert "Saga name order is paused already" in refused(
        "flow", "pause", "--name", "order", *REASON
    )
    assert "Action order is not paused" in refused("flow", "resume", "--action", "order", *REASON)
