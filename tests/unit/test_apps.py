"""django_saga.apps: what loading the app does."""

from __future__ import annotations

import sys

from django_saga.registry import registry


def test_testapp_sagas_module_is_autodiscovered():
    # Registered by app loading alone, before this test imports anything from it.
    assert registry.has("execute", "test.record")
    assert registry.has("compensate", "test.undo")
    assert "tests.testapp.sagas" in sys.modules

    from tests.testapp import sagas

    assert registry.get("execute", "test.record") is sagas.record
    assert registry.get("execute", "test.fail") is sagas.fail
    assert registry.get("compensate", "test.undo") is sagas.undo
    assert registry.get("compensate", "test.undo_fail") is sagas.undo_fail
    assert {"test.record", "test.set_output", "test.sleep"} <= set(registry.actions("execute"))
