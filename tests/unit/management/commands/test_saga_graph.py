"""``manage.py saga_graph``: a definition or a saga drawn as Mermaid or SVG, and its refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_saga.diagram import definition_graph, to_mermaid
from tests.conftest import ROOT
from tests.unit.diagram.examples import OrderSaga, compensated_saga, parse, steps_of


def graph_command(*args: str) -> str:
    out = StringIO()
    call_command("saga_graph", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as info:
        graph_command(*args)
    return str(info.value)


def test_the_command_draws_a_definition_with_its_parameters(tmp_path):
    path = "tests.unit.diagram.examples.OrderSaga"
    text = graph_command(path, "--param", "order_id=7")
    assert text == to_mermaid(definition_graph(OrderSaga(order_id=7)))
    assert graph_command(path, "--param", "order_id=7", "--direction", "TD").startswith(
        "flowchart TD"
    )
    target = tmp_path / "order.svg"
    assert graph_command(path, "--param", "order_id=7", "--output", str(target)) == ""
    root = parse(target.read_text())
    assert "capture_payment" in steps_of(root)
    svg = graph_command(path, "--param", "order_id=7", "--format", "svg", "--max-stages", "2")
    assert "\u2026 3 more stages" in "".join(parse(svg).itertext())


@pytest.mark.django_db
def test_the_command_draws_a_saga_with_its_statuses():
    saga = compensated_saga()
    text = graph_command("--saga", saga.pk)
    assert "n4_0 -.->|undo 1| n3_0" in text and ":::failed" in text
    root = parse(graph_command("--saga", saga.pk, "--format", "svg"))
    assert steps_of(root)["charge"].get("data-status") == "failed"


@pytest.mark.django_db
def test_the_command_refuses_clearly():
    assert "either a definition" in refused()
    assert "either a definition" in refused("tests.unit.diagram.examples.OrderSaga", "--saga", "x")
    assert "No definition at 'tests.nowhere.Order'" in refused("tests.nowhere.Order")
    assert "is not a SagaDefinition subclass" in refused(
        "tests.unit.diagram.examples.NOT_A_DEFINITION"
    )
    assert "is not a SagaDefinition subclass" in refused("django_saga.models.Saga")
    assert "needs the parameter 'order_id'" in refused("tests.unit.diagram.examples.OrderSaga")
    assert "Duplicate step name" in refused("tests.unit.diagram.examples.Broken")
    assert "not key=value" in refused(
        "tests.unit.diagram.examples.OrderSaga", "--param", "order_id"
    )
    assert "No saga '01NOSUCHSAGA'" in refused("--saga", "01NOSUCHSAGA")
    assert "--param is for a definition" in refused("--saga", "x", "--param", "a=1")
    assert "at least 1" in refused("tests.unit.diagram.examples.OrderSaga", "--max-stages", "0")


def test_the_command_exits_non_zero_with_the_sentence():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "saga_graph",
            "tests.unit.diagram.examples.NOT_A_DEFINITION",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "is not a SagaDefinition subclass" in done.stderr
    assert done.stdout == ""
