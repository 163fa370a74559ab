"""The outbox's list: filtered by kind, the newest first; a message not yet sent
kept from deletion, one by one or in bulk."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from django_saga.models import OutboxMessage, Saga
from tests.unit.console.helpers import build_saga, logged_in


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


def outbox_row(saga: Saga, sent: bool) -> OutboxMessage:
    now = timezone.now()
    return OutboxMessage.objects.create(
        saga=saga, kind="execute", body="{}", available_at=now, sent_at=now if sent else None
    )


@pytest.mark.django_db
def test_an_unsent_outbox_row_cannot_be_deleted_one_by_one_or_in_bulk(root):
    client = logged_in(root)
    saga = build_saga("started")
    unsent, sent = outbox_row(saga, sent=False), outbox_row(saga, sent=True)
    delete = "admin:django_saga_outboxmessage_delete"
    assert client.get(reverse(delete, args=[unsent.pk])).status_code == 403
    assert client.post(reverse(delete, args=[unsent.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse(delete, args=[sent.pk])).status_code == 200

    changelist = reverse("admin:django_saga_outboxmessage_changelist")
    assert 'value="delete_selected"' not in client.get(changelist).content.decode()
    client.post(
        changelist, {"action": "delete_selected", "_selected_action": [unsent.pk], "post": "yes"}
    )
    assert OutboxMessage.objects.filter(pk=unsent.pk).exists()
