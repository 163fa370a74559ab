"""django_saga.conf.wording: a key of SAGA that is no setting, named with those it resembles;
a bad value named without showing a secret."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_saga.checks import check_settings
from django_saga.conf import DEFAULTS, saga_settings
from tests.unit.conf.helpers import PASSWORD, saga


def test_a_misspelt_key_is_reported_with_the_setting_it_resembles(settings):
    saga(settings, CONCURENCY=8)
    expected = "SAGA['CONCURENCY'] is not a django-saga setting: did you mean 'CONCURRENCY'?"
    assert saga_settings.validate() == [expected]
    assert [(e.id, e.msg) for e in check_settings()] == [("django_saga.E001", expected)]


def test_a_key_in_the_wrong_case_is_pointed_to_its_setting_alone(settings):
    saga(settings, Broker_Url="memory://x")
    assert saga_settings.validate() == [
        "SAGA['Broker_Url'] is not a django-saga setting: did you mean 'BROKER_URL'?"
    ]


def test_a_key_close_to_several_settings_names_each_of_them(settings):
    saga(settings, RETRY_MAX=5)
    [problem] = saga_settings.validate()
    assert problem.startswith("SAGA['RETRY_MAX'] is not a django-saga setting: did you mean ")
    assert "'RETRY_MAX_ATTEMPTS'" in problem and "'RETRY_MAX_DELAY'" in problem
    assert "'CONCURRENCY'" not in problem


def test_a_key_close_to_no_setting_points_to_the_reference_not_a_list(settings):
    saga(settings, BOGUS=1)
    [problem] = saga_settings.validate()
    assert problem == (
        "SAGA['BOGUS'] is not a django-saga setting, nor close to one "
        "(the settings reference, docs/reference/settings.md, lists them all)"
    )
    assert not any(name in problem for name in DEFAULTS)


def test_a_key_that_is_no_string_is_reported_too(settings):
    settings.SAGA = {**settings.SAGA, 7: "x"}
    [problem] = saga_settings.validate()
    assert problem.startswith("SAGA[7] is not a django-saga setting, nor close to one")


def test_several_unknown_keys_are_each_named_once(settings):
    saga(settings, PREFTECH=4, HEARTBAET=30, BOGUS=1)
    problems = saga_settings.validate()
    assert sorted(problems) == [
        "SAGA['BOGUS'] is not a django-saga setting, nor close to one "
        "(the settings reference, docs/reference/settings.md, lists them all)",
        "SAGA['HEARTBAET'] is not a django-saga setting: did you mean 'HEARTBEAT'?",
        "SAGA['PREFTECH'] is not a django-saga setting: did you mean 'PREFETCH'?",
    ]
    assert [e.id for e in check_settings()] == ["django_saga.E001"] * 3


@pytest.mark.parametrize(
    ("overrides", "secret"),
    [
        ({"BROKER_URL": f"redis://saga:{PASSWORD}@mq:6379/0"}, PASSWORD),
        ({"BROKER_URL": f"amqp://saga:{PASSWORD}@mq:not-a-port/"}, PASSWORD),
        ({"WEBHOOK_SECRET": 918273645}, "918273645"),
        ({"WEBHOOK_SECRET": PASSWORD.encode()}, PASSWORD),
        ({"WEBHOOK_SECRET": [PASSWORD, 3]}, PASSWORD),
        ({"METRICS_TOKEN": 564738291}, "564738291"),
        ({"BROKER_PASSWORD": 123987456}, "123987456"),
        ({"BROKER_URL": f"amqp://saga:{PASSWORD}/pa55@mq/vhost"}, PASSWORD),
        ({"BROKER_URL": f"amqp://saga:{PASSWORD}?x@mq/vhost"}, PASSWORD),
        ({"BROKER_URL": f"amqp://saga:{PASSWORD}#x@mq/vhost"}, PASSWORD),
        ({"BROKER_URL": ["amqp://mq1/%2F", f"amqp://saga:{PASSWORD}/x@mq2:0/"]}, PASSWORD),
    ],
    ids=[
        "url",
        "malformed-url",
        "int-secret",
        "bytes-secret",
        "list-secret",
        "token",
        "password",
        "slash-in-password",
        "question-mark-in-password",
        "hash-in-password",
        "listed-url-with-slash-in-password",
    ],
)
def test_manage_py_check_names_a_bad_setting_without_showing_a_secret(settings, overrides, secret):
    settings.SAGA = {**settings.SAGA, **overrides}
    problems = saga_settings.validate()
    assert problems, "the bad value must be reported"
    with pytest.raises(SystemCheckError) as failed:
        call_command("check")
    assert secret not in str(failed.value)
    assert secret not in " ".join(problems)
