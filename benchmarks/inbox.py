"""The inbox at scale: open tasks written in bulk, then the pages people open
timed, with the queries each costs.

``fill`` writes ``tasks`` open tasks of task steps (each a saga of one
step waiting for it) offered to ``groups`` groups, a tenth to a permission
and a tenth delegated to one of ``users`` users, a twentieth claimed; every
user is in one or two groups. ``time_pages`` opens, for a few users, each
box of the inbox, a task's page, the JSON API's list and a console page
(whose frame counts the user's tasks), and reports p50 and p95.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_saga import Task
from django_saga.models import TASK_ACTION, OfferKind, Saga, SagaStep, SagaTask, TaskOffer, new_id

#: Rows a bulk insert writes at once.
CHUNK = 5_000
#: The permission a tenth of the tasks is offered by.
PERMISSION = ("auth", "view_group")


def fill(tasks: int, users: int, groups: int, say: Callable[[str], None], seed: int = 1) -> None:
    """Write the users, groups and open tasks (see the module docstring)."""
    rng = random.Random(seed)
    made_groups = [Group.objects.create(name=f"team-{g}") for g in range(groups)]
    people = []
    for u in range(users):
        user = get_user_model().objects.create(username=f"user-{u}", is_staff=u == 0)
        if u == 0:  # an operator too: the console's frame counts her tasks
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label="django_saga", codename="view_saga")
            )
        user.groups.add(*rng.sample(made_groups, rng.randint(1, 2)))
        people.append(user)
    app, codename = PERMISSION
    permission = Permission.objects.get(content_type__app_label=app, codename=codename)
    for user in people[::10]:
        user.user_permissions.add(permission)
    declared = dict(Task("approve", candidates=["team-0"], show=["context.n"]).input)
    started = time.monotonic()
    for first in range(0, tasks, CHUNK):
        count = min(CHUNK, tasks - first)
        with transaction.atomic():
            _write_chunk(first, count, declared, made_groups, people, rng)
        say(f"  {first + count:,} tasks written ({time.monotonic() - started:.0f} s)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _write_chunk(
    first: int,
    count: int,
    declared: dict[str, Any],
    groups: list[Group],
    people: list[Any],
    rng: random.Random,
) -> None:
    sagas = [Saga(pk=new_id(), name="refund", context={"n": first + i}) for i in range(count)]
    Saga.objects.bulk_create(sagas)
    steps = [
        SagaStep(
            pk=new_id(), saga=saga, position=0, name="approve", action=TASK_ACTION,
            input=declared, status="waiting", attempts=1,
        )
        for saga in sagas
    ]  # fmt: skip
    SagaStep.objects.bulk_create(steps)
    rows, offers = [], []
    for i, step in enumerate(steps):
        task = SagaTask(
            pk=new_id(), saga_id=step.saga_id, step=step, attempt=1, title="Approve a refund",
            form=declared["form"], shown={"context.n": first + i},
        )  # fmt: skip
        draw = rng.random()
        if draw < 0.1:
            offers.append(
                TaskOffer(task=task, kind=OfferKind.PERMISSION, name=".".join(PERMISSION))
            )
        elif draw < 0.2:
            user = rng.choice(people).get_username()
            task.state, task.claimed_by = "claimed", user
            offers.append(TaskOffer(task=task, kind=OfferKind.USER, name=user, open=False))
        else:
            offer = TaskOffer(task=task, kind=OfferKind.GROUP, name=rng.choice(groups).name)
            offers.append(offer)
            if draw > 0.95:
                task.state, task.claimed_by = "claimed", rng.choice(people).get_username()
                offer.open = False
        rows.append(task)
    SagaTask.objects.bulk_create(rows)
    TaskOffer.objects.bulk_create(offers)


def time_pages(runs: int, say: Callable[[str], None]) -> float:
    """Time each page for three users; the slowest p95 in milliseconds."""
    from django.test import Client
    from django.urls import reverse

    worst = 0.0
    from django_saga.actions.tasks import inbox as box_of

    users = list(get_user_model().objects.filter(username__in=["user-0", "user-1", "user-7"]))
    for user in users:
        task = box_of(user).values_list("pk", flat=True).first()
        client = Client()
        client.force_login(user)
        inbox = reverse("django_saga:tasks")
        pages = [
            (f"{user.username} inbox: offered to me", inbox),
            (f"{user.username} inbox: claimed by me", f"{inbox}?box=claimed"),
            (f"{user.username} inbox: my teams'", f"{inbox}?box=team"),
            (f"{user.username} JSON list", reverse("django_saga:api-tasks")),
        ]
        if task is not None:
            pages.append(
                (f"{user.username} a task's page", reverse("django_saga:task", args=[task]))
            )
        if user.is_staff:
            pages.append(
                (f"{user.username} console (its frame counts)", reverse("django_saga:flow"))
            )
        for label, url in pages:
            client.get(url)  # warm
            timings = []
            with CaptureQueriesContext(connection) as queries:
                answer = client.get(url)
            count = len(queries)
            for _ in range(runs):
                began = time.perf_counter()
                answer = client.get(url)
                timings.append((time.perf_counter() - began) * 1000)
            timings.sort()
            p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
            worst = max(worst, p95)
            say(
                f"  {label:38} {answer.status_code}  p50 {statistics.median(timings):6.1f} ms  "
                f"p95 {p95:6.1f} ms  {count} queries"
            )
    return worst
