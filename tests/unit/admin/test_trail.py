"""The operators' trail's own list: read-only, filtered, searched, outliving its sagas."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga import admin as saga_admin
from django_saga import manager
from django_saga.models import Intervention, Saga
from django_saga.retention import purge
from tests.unit.admin.helpers import TRAIL, halted_saga
from tests.unit.console.helpers import build_saga, logged_in


@pytest.mark.django_db
def test_the_trail_list_is_read_only_filtered_by_action_and_searched_by_saga(viewer):
    saga, other = halted_saga(), build_saga("failed")
    retry = Intervention.objects.create(saga=saga, action="retry_step", step="ship", actor="al")
    undo = Intervention.objects.create(saga=other, action="compensate", actor="bo", batch="B1")
    client = logged_in(viewer)
    listed = client.get(TRAIL).context["cl"]
    assert [e.pk for e in listed.result_list] == [undo.pk, retry.pk]
    assert isinstance(listed.paginator, saga_admin.BoundedPaginator)
    assert [
        e.pk for e in client.get(TRAIL, {"action": "compensate"}).context["cl"].result_list
    ] == [undo.pk]
    assert [e.pk for e in client.get(TRAIL, {"q": saga.pk}).context["cl"].result_list] == [retry.pk]
    assert [e.pk for e in client.get(TRAIL, {"q": "B1"}).context["cl"].result_list] == [undo.pk]
    html = client.get(TRAIL).content.decode()
    assert reverse("admin:django_saga_saga_change", args=[saga.pk]) in html
    assert "Add intervention" not in html
    url = reverse("admin:django_saga_intervention_change", args=[retry.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": "rewritten"}).status_code == 403
    delete = reverse("admin:django_saga_intervention_delete", args=[retry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Intervention.objects.get(pk=retry.pk).reason == ""


@pytest.mark.django_db
def test_the_admin_lists_the_trail_of_a_saga_purged_since(admin_client):
    saga = build_saga("failed")
    manager.compensate(saga.pk, by="clerk", reason="the customer cancelled")
    Saga.objects.filter(pk=saga.pk).update(state="compensated")
    kept = halted_saga()
    manager.skip_step(kept.pk, "ship", {"tracking": "T1"}, by="clerk", reason="handed over")
    Saga.objects.filter(pk=saga.pk).update(completed_at=kept.created_at.replace(year=2000))
    assert purge(1).sagas == 1

    page = admin_client.get(reverse("admin:django_saga_intervention_changelist"))
    assert page.status_code == 200
    shown = page.content.decode()
    assert f"{saga.pk} <em>(purged)</em>" in shown
    assert reverse("admin:django_saga_saga_change", args=[kept.pk]) in shown
    [entry] = Intervention.objects.filter(saga_id=saga.pk)
    detail = admin_client.get(reverse("admin:django_saga_intervention_change", args=[entry.pk]))
    assert detail.status_code == 200
    assert "the customer cancelled" in detail.content.decode()
