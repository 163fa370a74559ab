"""What the fuzz suite draws: hostile and well-formed values for every input surface.

``SAGA_FUZZ_EXAMPLES`` sets the examples per test (200 by default, what
``./run test`` runs; ``./run fuzz`` runs thousands). Under ``CI`` the
examples are derandomised, so a run is repeatable.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from django_saga import Step
from django_saga.models import Intervention, OutboxMessage, Saga, SagaStep

CI = bool(os.environ.get("CI"))
EXAMPLES = settings(
    max_examples=int(os.environ.get("SAGA_FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=CI,
    database=None if CI else settings.default.database,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SECRET = "fuzz-secret-of-at-least-thirty-two-characters"

# -- text and numbers ------------------------------------------------------------------
#: Text as hostile as Python allows: lone surrogates, NUL and other control
#: characters, bidi overrides, terminal escapes, and lengths around the limits.
odd_text = st.text(alphabet=st.characters(categories=None), max_size=260) | st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfffy",
        "\x1b]0;pwned\x07",
        "\x1b[2J",
        "\u202eevil",
        "\x85\x9b",
        "n" * 200,
        "n" * 201,
        "n" * 10_000,
    ]
)
#: Text that any column takes: what a well-behaved caller sends.
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=30)
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, -1, 1e-15, 1e12, 31_622_400, 31_622_401, 2**63])
    | st.builds(pow, st.just(10), st.just(5000))  # past Python's int-to-str limit
)
json_leaves = st.none() | st.booleans() | numbers | odd_text | st.just(Decimal("1.5"))


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"x": [value]}
    return value


json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
) | st.integers(min_value=0, max_value=400).map(nested)
anything = json_values | st.binary(max_size=20) | st.just(object()) | st.just(timedelta(1))
plain_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    # jsonb reads a float written with an exponent (4.1e+16) back as an int: kept below that.
    | st.floats(min_value=-1e15, max_value=1e15)
    | plain_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_text, inner, max_size=3),
    max_leaves=8,
)
reasons = st.sampled_from(["", "customer asked", "r" * 2000, "r" * 2001]) | odd_text
ages = (
    st.sampled_from(["1d", "2h", "30m", "0s", "999999d", "-1d", "1e308d", "d", "", "nan"])
    | odd_text
)

# -- steps -------------------------------------------------------------------------------
timeouts = st.none() | numbers | st.just("10")
actions = st.sampled_from(["test.record", "test.pending", "test.skip_unless"]) | odd_text
compensations = st.sampled_from(["", "test.undo"]) | odd_text
steps = st.builds(
    Step,
    name=odd_text,
    action=actions,
    compensation=compensations,
    input=st.dictionaries(odd_text, json_values, max_size=3) | anything,
    timeout=timeouts,
)
odd_step_lists = st.lists(steps | st.dictionaries(odd_text, anything, max_size=3), max_size=4)
good_steps = st.lists(
    st.builds(
        Step,
        name=st.sampled_from(["a", "b", "c", "d"]),
        action=st.sampled_from(["test.record", "test.pending", "test.set_output"]),
        compensation=st.sampled_from(["", "test.undo"]),
        input=st.dictionaries(plain_text, plain_json, max_size=3),
        timeout=st.none() | st.floats(min_value=0.001, max_value=3600),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda step: step.name,
)
step_lists = good_steps | odd_step_lists
deadlines = (
    st.none()
    | numbers
    | st.timedeltas(min_value=timedelta(days=-10), max_value=timedelta(days=800))
    | st.datetimes(timezones=st.none() | st.timezones())
)
contexts = (
    st.none()
    | st.dictionaries(plain_text, plain_json, max_size=4)
    | st.dictionaries(odd_text, json_values, max_size=4)
    | anything
)


def encode(fields: object) -> bytes:
    """``fields`` as a body a sender could write (a digits-only one if JSON cannot hold them)."""
    try:
        return json.dumps(fields, default=repr).encode(errors="surrogatepass")
    except ValueError:  # an integer past Python's int-to-str limit
        return b'{"v": 1, "attempt": ' + b"9" * 5000 + b"}"


def counts() -> tuple[int, int, int]:
    """Sagas, steps and outbox rows: a refusal must leave all three as they were."""
    return Saga.objects.count(), SagaStep.objects.count(), OutboxMessage.objects.count()


def snapshot() -> tuple[object, ...]:
    """Everything an operator's action may write: a refusal must leave it as it was."""
    return (
        counts(),
        Intervention.objects.count(),
        sorted(Saga.objects.values_list("pk", "state", "error")),
        sorted(SagaStep.objects.values_list("pk", "status", "attempts", "input", "output")),
    )
