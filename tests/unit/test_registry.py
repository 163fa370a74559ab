"""Handler registration: decorators, register_* functions, conflicts, a module imported again."""

from __future__ import annotations

import importlib
import math
import uuid

import pytest

import django_saga
from django_saga import (
    DuplicateHandlerError,
    SagaDefinitionError,
    UnknownActionError,
    compensation_handler,
    register_compensation_handler,
    register_step_handler,
    step_handler,
)
from django_saga.registry import HandlerRegistry, registry


def fresh_action() -> str:
    return f"tmp.{uuid.uuid4().hex}"


def handler_one(saga, step):
    return {"one": True}


def handler_two(saga, step):
    return {"two": True}


# -- a registry of its own ------------------------------------------------------


def test_register_and_get_by_kind():
    handlers = HandlerRegistry()
    assert handlers.register("execute", "pay", handler_one) is handler_one
    handlers.register("compensate", "pay", handler_two)
    assert handlers.get("execute", "pay") is handler_one
    assert handlers.get("compensate", "pay") is handler_two
    assert handlers.has("execute", "pay")
    assert handlers.has("compensate", "pay")
    assert not handlers.has("execute", "refund")


def test_steps_and_compensations_are_separate_namespaces():
    handlers = HandlerRegistry()
    handlers.register("execute", "pay", handler_one)
    assert not handlers.has("compensate", "pay")
    with pytest.raises(UnknownActionError):
        handlers.get("compensate", "pay")


def test_get_unknown_action_names_it_and_lists_what_is_registered():
    handlers = HandlerRegistry()
    handlers.register("execute", "b.ship", handler_one)
    handlers.register("execute", "a.pay", handler_two)
    with pytest.raises(UnknownActionError) as info:
        handlers.get("execute", "c.nope")
    assert str(info.value) == (
        "No step handler is registered for action 'c.nope' (registered: a.pay, b.ship)"
    )


def test_get_on_an_empty_registry_says_none():
    with pytest.raises(UnknownActionError, match=r"'x' \(registered: none\)"):
        HandlerRegistry().get("compensate", "x")


def test_actions_are_listed_sorted():
    handlers = HandlerRegistry()
    for name in ("c", "a", "b"):
        handlers.register("execute", name, handler_one)
    assert handlers.actions("execute") == ["a", "b", "c"]
    assert handlers.actions("compensate") == []


def test_a_different_function_cannot_take_a_registered_name():
    handlers = HandlerRegistry()
    handlers.register("execute", "pay", handler_one)
    with pytest.raises(DuplicateHandlerError) as info:
        handlers.register("execute", "pay", handler_two)
    message = str(info.value)
    assert "'pay'" in message
    assert "handler_one" in message
    assert "handler_two" in message
    # The first registration stands.
    assert handlers.get("execute", "pay") is handler_one


def test_duplicate_compensation_is_refused_too():
    handlers = HandlerRegistry()
    handlers.register("compensate", "refund", handler_one)
    with pytest.raises(DuplicateHandlerError, match="Compensation action 'refund'"):
        handlers.register("compensate", "refund", handler_two)


def test_re_registering_the_same_function_is_fine():
    handlers = HandlerRegistry()
    handlers.register("execute", "pay", handler_one)
    handlers.register("execute", "pay", handler_one)
    assert handlers.get("execute", "pay") is handler_one
    assert handlers.actions("execute") == ["pay"]


def test_the_same_function_under_two_names_is_fine():
    handlers = HandlerRegistry()
    handlers.register("execute", "pay", handler_one)
    handlers.register("execute", "pay.v2", handler_one)
    assert handlers.get("execute", "pay.v2") is handler_one


def test_a_different_lambda_cannot_take_a_registered_name():
    handlers = HandlerRegistry()
    first = lambda saga, step: {"first": True}  # noqa: E731
    second = lambda saga, step: {"second": True}  # noqa: E731
    handlers.register("execute", "pay", first)
    with pytest.raises(DuplicateHandlerError):
        handlers.register("execute", "pay", second)
    assert handlers.get("execute", "pay") is first


def test_unregister_frees_the_name():
    handlers = HandlerRegistry()
    handlers.register("execute", "pay", handler_one)
    handlers.unregister("execute", "pay")
    assert not handlers.has("execute", "pay")
    handlers.register("execute", "pay", handler_two)
    assert handlers.get("execute", "pay") is handler_two
    handlers.unregister("execute", "never-registered")  # no error


@pytest.mark.parametrize("action", ["", None, 3])
def test_action_name_must_be_a_non_empty_string(action):
    with pytest.raises(ValueError, match="action name must be a non-empty string"):
        HandlerRegistry().register("execute", action, handler_one)


def test_handler_must_be_callable():
    with pytest.raises(TypeError, match="'pay' is not callable"):
        HandlerRegistry().register("execute", "pay", "not a function")


def test_registries_are_independent():
    mine = HandlerRegistry()
    mine.register("execute", "only.mine", handler_one)
    assert not registry.has("execute", "only.mine")
    assert not HandlerRegistry().has("execute", "only.mine")


# -- the global registry: decorators and register_* ------------------------------


def test_step_handler_decorator_registers_and_returns_the_function():
    action = fresh_action()
    try:

        @step_handler(action)
        def do_it(saga, step):
            return {}

        assert callable(do_it)
        assert do_it.__name__ == "do_it"
        assert registry.get("execute", action) is do_it
        assert not registry.has("compensate", action)
    finally:
        registry.unregister("execute", action)


def test_compensation_handler_decorator_registers_and_returns_the_function():
    action = fresh_action()
    try:

        @compensation_handler(action)
        def undo_it(saga, step):
            return None

        assert registry.get("compensate", action) is undo_it
        assert not registry.has("execute", action)
    finally:
        registry.unregister("compensate", action)


def test_register_functions_use_the_global_registry():
    action = fresh_action()
    try:
        assert register_step_handler(action, handler_one) is handler_one
        assert register_compensation_handler(action, handler_two) is handler_two
        assert registry.get("execute", action) is handler_one
        assert registry.get("compensate", action) is handler_two
    finally:
        registry.unregister("execute", action)
        registry.unregister("compensate", action)


def test_decorator_refuses_a_second_function_for_a_taken_name():
    action = fresh_action()
    try:
        register_step_handler(action, handler_one)
        with pytest.raises(DuplicateHandlerError):

            @step_handler(action)
            def other(saga, step):
                return {}

        assert registry.get("execute", action) is handler_one
    finally:
        registry.unregister("execute", action)


def test_public_names_are_exported_from_the_package():
    assert django_saga.step_handler is step_handler
    assert django_saga.compensation_handler is compensation_handler
    assert django_saga.register_step_handler is register_step_handler
    assert django_saga.register_compensation_handler is register_compensation_handler


# -- a sagas.py imported again ------------------------------------------------------


def test_importing_a_sagas_module_again_is_not_a_conflict():
    # Autodiscovery plus a reload (or a second import path) re-runs the decorators
    # with new function objects of the same qualified name.
    from tests.testapp import sagas

    before = registry.get("execute", "test.record")
    importlib.reload(sagas)
    after = registry.get("execute", "test.record")
    assert after is sagas.record
    assert after.__qualname__ == before.__qualname__


@pytest.mark.parametrize("timeout", [math.inf, math.nan, 1e12])
def test_a_handler_cannot_be_registered_with_an_unschedulable_timeout(timeout):
    with pytest.raises(SagaDefinitionError, match="timeout for 'pay'"):
        HandlerRegistry().register("execute", "pay", lambda saga, step: {}, timeout=timeout)


def test_register_step_handler_accepts_a_bounded_timeout():
    registry = HandlerRegistry()
    registry.register("execute", "pay", lambda saga, step: {}, timeout=3600)
    assert registry.spec("execute", "pay").timeout == 3600
