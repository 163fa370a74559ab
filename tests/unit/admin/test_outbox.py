"""The outbox's list: filtered by kind, the newest first."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga.models import OutboxMessage
from tests.unit.console.helpers import build_saga


@pytest.mark.django_db
def test_the_outbox_list_filters_by_kind_newest_first(admin_client):
    saga = build_saga("failed")
    now = saga.created_at
    first = OutboxMessage.objects.create(saga=saga, kind="execute", body="{}", available_at=now)
    second = OutboxMessage.objects.create(saga=saga, kind="compensate", body="{}", available_at=now)
    url = reverse("admin:django_saga_outboxmessage_changelist")
    everything = admin_client.get(url).context["cl"]
    assert [m.pk for m in everything.result_list] == [second.pk, first.pk]
    assert everything.paginator.tally.exact
    undo = admin_client.get(url, {"kind": "compensate"}).context["cl"]
    assert [m.pk for m in undo.result_list] == [second.pk]
