"""What every part of ``manage.py saga`` shares: what it prints quotes stored
text with every character a terminal would act on shown as an escape, and
``--user`` names an active Django user."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError

from django_saga.models import ApiToken, Intervention, Saga
from tests.unit.management.operator_cli.helpers import CLEAR, RETITLE, shown_as_is
from tests.unit.management.operator_cli.helpers import saga as saga_cli


@pytest.mark.django_db
def test_action_lines_token_lines_and_refusals_quote_stored_text_escaped(django_user_model):
    failed = Saga.objects.create(name=f"order{CLEAR}", state="failed", error="boom")
    done = saga_cli("compensate", failed.pk, "--reason", "customer cancelled")
    assert done.startswith(f"Saga {failed.pk} (order\\x1b[2J): ") and shown_as_is(done) == []

    user = django_user_model.objects.create_user("ops")
    token = ApiToken.objects.create(
        user=user, name=f"deploys{RETITLE}", prefix="0123456789ab", digest="0" * 64
    )
    listed = saga_cli("token", "list")
    assert "deploys\\x1b]0;owned\\x07" in listed and shown_as_is(listed) == []
    saga_cli("token", "revoke", token.pk)
    with pytest.raises(CommandError) as again:
        saga_cli("token", "revoke", token.pk)
    assert f"({token.name})" not in str(again.value)
    assert "(deploys\\x1b]0;owned\\x07) was revoked" in str(again.value)


@pytest.mark.django_db
def test_a_user_who_is_not_active_may_not_act(django_user_model):
    retired = django_user_model.objects.create_user("retired", is_active=False)
    retired.user_permissions.add(Permission.objects.get(codename="compensate_saga"))
    failed = Saga.objects.create(name="order", state="failed", error="boom")
    with pytest.raises(CommandError) as info:
        saga_cli("compensate", failed.pk, "--reason", "undo", "--user", "retired")
    assert str(info.value) == "--user 'retired' is not an active user"
    assert Saga.objects.get(pk=failed.pk).state == "failed"
    assert not Intervention.objects.exists()
