"""The example project's URLs: anyone with an account logs in on its own
login page, staff or not, and lands on the inbox they were sent from."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from example_project.shop.demo.people import DIRECTOR, PASSWORD, demo_people

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]


@override_settings(LOGIN_URL="/accounts/login/")
def test_a_director_who_is_not_staff_logs_in_to_the_inbox():
    demo_people()
    client = Client()
    sent = client.get("/sagas/tasks/")
    assert sent.status_code == 302 and sent["Location"] == "/accounts/login/?next=/sagas/tasks/"
    assert client.get(sent["Location"]).status_code == 200
    logged = client.post(
        sent["Location"], {"username": DIRECTOR, "password": PASSWORD, "next": "/sagas/tasks/"}
    )
    assert logged.status_code == 302 and logged["Location"] == "/sagas/tasks/"
    assert client.get("/sagas/tasks/").status_code == 200
