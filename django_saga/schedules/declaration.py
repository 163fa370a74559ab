"""Schedules declared in code: ``schedules = [schedule(...)]`` in an app's
``sagas.py``, made into rows when an engine starts (see ``sync``).

    from django_saga import schedule

    schedules = [
        schedule("nightly-stock-report", StockReport, cron="0 2 * * *",
                 timezone="Europe/Berlin"),
        schedule("stock-sync", "shop.sagas.StockSync", every=timedelta(hours=1)),
    ]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from .. import validation
from ..errors import SagaDefinitionError, brief
from ..models import SCHEDULE_NAME_MAX_CHARS, Missed, Overlap
from ..models.saga import PRIORITIES
from ..steps import BaseDefinition, build_definition
from .timing import Timing

#: The module of each app that declares handlers, sagas and schedules.
SAGAS_MODULE = "sagas"
#: Its list of schedules.
SCHEDULES_ATTRIBUTE = "schedules"
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+\Z")


@dataclass(frozen=True)
class ScheduleDeclaration:
    """A schedule as code declares it: its name, the saga it starts, when."""

    name: str
    definition: str
    timing: Timing
    params: Mapping[str, Any] = field(default_factory=dict)
    missed: str = Missed.LATEST
    missed_limit: int = 10
    overlap: str = Overlap.SKIP
    #: Its sagas' priority; "" leaves it to the definition.
    priority: str = ""

    def row_fields(self) -> dict[str, Any]:
        """The schedule row's fields, as ``sync`` writes them."""
        return {
            "definition": self.definition,
            "params": dict(self.params),
            "cron": self.timing.cron,
            "every": self.timing.every,
            "timezone": self.timing.timezone,
            "starts_at": self.timing.starts,
            "ends_at": self.timing.ends,
            "missed": self.missed,
            "missed_limit": self.missed_limit,
            "overlap": self.overlap,
            "priority": self.priority,
        }


def schedule(
    name: str,
    definition: type[BaseDefinition] | str,
    *,
    cron: str = "",
    every: timedelta | int | None = None,
    timezone: str = "UTC",
    params: Mapping[str, Any] | None = None,
    starts: datetime | None = None,
    ends: datetime | None = None,
    missed: str = Missed.LATEST,
    missed_limit: int = 10,
    overlap: str = Overlap.SKIP,
    priority: str = "",
) -> ScheduleDeclaration:
    """A schedule that starts ``definition(**params)`` at each tick of ``cron``
    (five fields, read in ``timezone``) or ``every`` interval, from ``starts``
    until ``ends``.

    ``missed`` says what happens to ticks that passed while no engine ran
    (found more than ``SCHEDULE_LATE_AFTER`` seconds late): ``"skip"`` them,
    run the ``"latest"`` once, or run ``"each"`` (the latest ``missed_limit``
    of them). ``overlap`` says what a tick does while the previous run is
    still active: ``"skip"`` it, ``"allow"`` a second run, or ``"wait"`` until
    the previous one finishes; several ticks due at once start together
    (``allow``), one after another (``wait``) or only the newest (``skip``).
    ``priority`` (``"high"`` or ``"normal"``) is its sagas' priority, instead
    of the definition's. Refuses, naming it, anything it cannot run.
    """
    path = definition if isinstance(definition, str) else _path_of(definition)
    if isinstance(every, timedelta):
        seconds = every.total_seconds()
        every = int(seconds) if seconds == int(seconds) else None
        if every is None:
            raise SagaDefinitionError(f"schedule {brief(name)} every must be whole seconds")
    declared = ScheduleDeclaration(
        name=name,
        definition=path,
        timing=Timing(cron=cron, every=every, timezone=timezone, starts=starts, ends=ends),
        params=dict(params or {}),
        missed=missed,
        missed_limit=missed_limit,
        overlap=overlap,
        priority=priority,
    )
    # The definition is loaded by the system check: a dotted path may name
    # the module that is declaring this schedule, not yet imported in full.
    check(declared, load=False)
    return declared


def check(declared: ScheduleDeclaration, *, load: bool = True) -> None:
    """Refuse a schedule that cannot run, naming what is wrong: its name, its
    timing, its policies, and (``load``) the definition and its parameters."""
    name = declared.name
    if not isinstance(name, str) or not _SLUG.match(name) or len(name) > SCHEDULE_NAME_MAX_CHARS:
        raise SagaDefinitionError(
            f"a schedule name is letters, digits, '-' and '_', at most "
            f"{SCHEDULE_NAME_MAX_CHARS} characters; got {brief(name)}"
        )
    where = f"schedule {name!r}"
    declared.timing.check(where)
    if declared.missed not in Missed.values:
        raise SagaDefinitionError(
            f"{where} missed must be one of {', '.join(Missed.values)}, "
            f"got {brief(declared.missed)}"
        )
    if declared.overlap not in Overlap.values:
        raise SagaDefinitionError(
            f"{where} overlap must be one of {', '.join(Overlap.values)}, "
            f"got {brief(declared.overlap)}"
        )
    if declared.priority and declared.priority not in PRIORITIES:
        raise SagaDefinitionError(
            f"{where} priority must be one of {', '.join(map(repr, PRIORITIES))} or empty, "
            f"got {brief(declared.priority)}"
        )
    limit = declared.missed_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise SagaDefinitionError(
            f"{where} missed_limit must be from 1 to 1000, got {brief(limit)}"
        )
    validation.to_json(dict(declared.params), f"{where} params")
    if load:
        build_definition(declared.definition, declared.params, where)


def declared_schedules() -> list[ScheduleDeclaration]:
    """Every schedule the installed apps' ``sagas.py`` modules declare, checked;
    refuses two of one name."""
    found: dict[str, ScheduleDeclaration] = {}
    for app in apps.get_app_configs():
        if not module_has_submodule(app.module, SAGAS_MODULE):
            continue
        module = import_module(f"{app.name}.{SAGAS_MODULE}")
        listed = getattr(module, SCHEDULES_ATTRIBUTE, ())
        for declared in listed:
            if not isinstance(declared, ScheduleDeclaration):
                raise SagaDefinitionError(
                    f"{module.__name__}.{SCHEDULES_ATTRIBUTE} holds {brief(declared)}: "
                    "list what django_saga.schedule() returns"
                )
            if declared.name in found:
                raise SagaDefinitionError(
                    f"two schedules are named {declared.name!r}: names are unique"
                )
            found[declared.name] = declared
    return list(found.values())


def _path_of(definition: Any) -> str:
    if not (isinstance(definition, type) and issubclass(definition, BaseDefinition)):
        raise SagaDefinitionError(
            f"a schedule starts a SagaDefinition (a class or its dotted path), "
            f"got {brief(definition)}"
        )
    return definition.path()
