"""How long the admin and the console take to show one saga of many steps.

    SAGA_TEST_DB=postgres .venv/bin/python -m benchmarks.large_saga [--steps 10000] [--runs 5]

Runs in a throwaway test database (the test suite's settings), prints the
median time and the size of each page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from django_saga.models import Saga, SagaStep

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        saga = Saga.objects.create(name="huge", state="failed")
        SagaStep.objects.bulk_create(
            (
                SagaStep(saga=saga, position=n, stage=n, name=f"s{n}", action="bench.step")
                for n in range(args.steps)
            ),
            batch_size=2000,
        )
        client = Client()
        client.force_login(get_user_model().objects.create_superuser("bench", password="x"))
        pages = {
            "admin change page": reverse("admin:django_saga_saga_change", args=[saga.pk]),
            "console saga page": reverse("django_saga:detail", args=[saga.pk]),
            "JSON detail": reverse("django_saga:api-detail", args=[saga.pk]),
        }
        print(f"{args.steps} steps, {connection.vendor}, median of {args.runs}")
        for label, url in pages.items():
            times, size = [], 0
            for _ in range(args.runs):
                started = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (label, response.status_code)
                size = len(response.content)
            print(f"  {label:18} {statistics.median(times) * 1000:8.0f} ms {size / 1024:9.0f} KiB")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
