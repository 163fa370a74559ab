"""django_saga.conf.access: ``saga_settings`` read lazily, with defaults, and validated."""

from __future__ import annotations

import pytest

from django_saga.checks import check_settings
from django_saga.conf import DEFAULTS, saga_settings
from django_saga.stores import get_store
from django_saga.stores.django import DjangoStore
from django_saga.stores.memory import MemoryStore
from tests.unit.conf.helpers import CLUSTER, saga, saga_errors


def test_the_test_settings_are_valid():
    assert saga_settings.validate() == []
    assert check_settings() == []
    assert saga_errors() == []


def test_defaults_apply_when_saga_is_absent(settings):
    del settings.SAGA
    for key, value in DEFAULTS.items():
        assert getattr(saga_settings, key) == value
    assert saga_settings.PREFETCH == 64
    assert saga_settings.STORE == "django_saga.stores.django.DjangoStore"
    assert saga_settings.validate() == []
    assert check_settings() == []


def test_unset_keys_fall_back_to_defaults(settings):
    settings.SAGA = {"BROKER_URL": "memory://x"}
    assert saga_settings.BROKER_URL == "memory://x"
    assert saga_settings.CONCURRENCY == DEFAULTS["CONCURRENCY"]
    assert saga_settings.QUEUE_TYPE == "classic"


def test_settings_are_read_lazily(settings):
    saga(settings, PREFETCH=3, AUTO_COMPENSATE=False)
    assert saga_settings.PREFETCH == 3
    assert saga_settings.AUTO_COMPENSATE is False
    saga(settings, PREFETCH=7)
    assert saga_settings.PREFETCH == 7


def test_unknown_attribute_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match=r"SAGA\['PREFTECH'\]: did you mean 'PREFETCH'\?"):
        saga_settings.PREFTECH  # noqa: B018


def test_store_setting_change_takes_effect(settings):
    saga(settings, STORE="django_saga.stores.memory.MemoryStore")
    memory = get_store()
    assert isinstance(memory, MemoryStore)
    # One instance per process, so every caller sees the same memory.
    assert get_store() is memory
    saga(settings, STORE="django_saga.stores.django.DjangoStore")
    assert isinstance(get_store(), DjangoStore)


def test_every_problem_is_reported_at_once(settings):
    saga(settings, PREFETCH=0, CONCURRENCY="4", QUEUE_TYPE="fancy", BOGUS=1)
    problems = saga_settings.validate()
    assert len(problems) == 4
    for key in ("PREFETCH", "CONCURRENCY", "QUEUE_TYPE", "BOGUS"):
        assert sum(f"SAGA[{key!r}]" in p for p in problems) == 1, key


def test_saga_that_is_not_a_dict_is_reported(settings):
    settings.SAGA = ["BROKER_URL", "amqp://"]
    assert saga_settings.validate() == ["SAGA must be a dict, got list"]


def test_broker_password_with_a_password_in_any_listed_url_is_refused(settings):
    saga(settings, BROKER_URL=[CLUSTER[0], "amqp://saga:one@mq2/%2F"], BROKER_PASSWORD="two")
    assert any("give it in one place" in p for p in saga_settings.validate())


def test_a_password_in_the_url_and_in_broker_password_is_refused(settings):
    settings.SAGA = {
        **settings.SAGA,
        "BROKER_URL": "amqp://saga:one@mq/%2F",
        "BROKER_PASSWORD": "two",
    }
    assert any("give it in one place" in p for p in saga_settings.validate())
