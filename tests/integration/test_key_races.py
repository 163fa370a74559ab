"""Concurrent start() calls with one business key, from several processes and
threads on PostgreSQL: the database lets exactly one create the saga."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from django_saga.models import Saga
from tests.conftest import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROCESSES = 5
THREADS = 5

#: One process of starters: its threads all call start() at ``go`` (Unix time).
STARTERS = """
import json, sys, threading, time
import django
django.setup()
from django.db import connections
from django_saga import Step, manager

go, threads, key = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
results = []

def starter():
    while time.time() < go:
        time.sleep(0.0005)
    saga = manager.start("order", [Step("a", "test.record")], key=key)
    results.append([saga.pk, saga.created])
    connections.close_all()

workers = [threading.Thread(target=starter) for _ in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
if len(results) != threads:
    sys.exit(f"{threads - len(results)} starter(s) failed")
print(json.dumps(results))
"""


@pytest.mark.parametrize("round_", range(3))
def test_many_concurrent_starters_with_one_key_create_exactly_one_saga(round_):
    key = f"order-race-{round_}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SAGA_TEST_USE_TEST_DB": django_settings.DATABASES["default"]["NAME"],
    }
    # Far enough ahead for every process to have started and connected.
    go = time.time() + 4.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", STARTERS, str(go), str(THREADS), key],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results: list[list] = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        results += json.loads(out)
    assert len(results) == PROCESSES * THREADS  # 25 starters
    created = [pk for pk, was_created in results if was_created]
    assert len(created) == 1, f"{len(created)} starters created a saga"
    assert {pk for pk, _ in results} == set(created)
    assert Saga.objects.filter(name="order", key=key).count() == 1
