"""The operator's hand on flow: pause and resume every run of some actions,
or every saga of some names, across the deployment.

A pause names its subject by a pattern (``payment.*``: ``*`` stands for any
characters). While it is in force, a message about to run a matching
handler is held (``flow.gate``): handlers already running finish, nothing
new starts, and no attempt's timeout counts the wait. Resuming ends the
pause; every engine's sweeper then sends the held messages again, through
the outbox, and each goes through its action's limits again (a provider
back from an outage gets its rate, not the backlog at once). Each pause row
is its own trail: who paused and resumed, when and why. Pausing one saga is
an action on the saga (``catalogue.PAUSE``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from .. import clock, validation
from ..client import Client
from ..errors import InvalidStateTransition, SagaDefinitionError, brief
from ..models import Pause, Scope
from .declaration import Actor, reason_of

#: The permission to pause and resume actions and saga names.
PAUSE_PERMISSION = "django_saga.pause_actions"


class PauseOperator(Client):
    """A client that may also pause and resume actions and saga names."""

    @property
    def pause_database(self) -> str:
        """The database of the pauses: the Django store's."""
        using = getattr(self.store, "using", None)
        if not isinstance(using, str):
            raise ImproperlyConfigured(
                f"pauses of actions and saga names live in the database: the store "
                f"{type(self.store).__name__} has none (use the Django store)"
            )
        return using

    def pauses(self, active: bool = True, limit: int = 100) -> list[Pause]:
        """The pauses in force (``active``), else every pause, newest first."""
        found = Pause.objects.using(self.pause_database).order_by("-id")
        if active:
            found = found.filter(resumed_at__isnull=True)
        return list(found[:limit])

    def pause(
        self,
        *,
        action: str | None = None,
        name: str | None = None,
        by: Any = None,
        reason: str = "",
    ) -> Pause:
        """Hold every run of the actions ``action`` matches, or every saga
        whose name ``name`` matches, until resumed; raises
        ``InvalidStateTransition`` if it is paused already."""
        scope, pattern = _subject(action, name)
        actor = Actor.of(by)
        why = reason_of(actor, reason)
        pause = Pause(scope=scope, pattern=pattern, reason=why, paused_by=actor.name)
        try:
            with transaction.atomic(using=self.pause_database):
                pause.save(using=self.pause_database, force_insert=True)
        except IntegrityError:
            raise InvalidStateTransition(
                f"{Scope(scope).label.capitalize()} {pattern} is paused already."
            ) from None
        return pause

    def resume(
        self,
        *,
        action: str | None = None,
        name: str | None = None,
        by: Any = None,
        reason: str = "",
    ) -> Pause:
        """End the pause of ``action`` or ``name`` (the same pattern it was
        paused with): what it held is sent again by the engines' sweepers."""
        scope, pattern = _subject(action, name)
        actor = Actor.of(by)
        why = reason_of(actor, reason)
        with transaction.atomic(using=self.pause_database):
            pause = (
                Pause.objects.using(self.pause_database)
                .select_for_update()
                .filter(scope=scope, pattern=pattern, resumed_at__isnull=True)
                .first()
            )
            if pause is None:
                raise InvalidStateTransition(
                    f"{Scope(scope).label.capitalize()} {pattern} is not paused."
                )
            pause.resumed_at = clock.now()
            pause.resumed_by = actor.name
            pause.resume_reason = why
            pause.save(
                using=self.pause_database,
                update_fields=["resumed_at", "resumed_by", "resume_reason"],
            )
        return pause


def _subject(action: str | None, name: str | None) -> tuple[str, str]:
    """What a pause is of: exactly one of an action pattern and a name pattern."""
    if (action is None) == (name is None):
        raise SagaDefinitionError(
            f"Pause either an action or a saga name, got action={brief(action)} "
            f"and name={brief(name)}"
        )
    scope, pattern = (Scope.ACTION, action) if action is not None else (Scope.NAME, name)
    text = validation.text(
        pattern,
        f"the {Scope(scope).label} to pause",
        validation.NAME_MAX_CHARS,
        plain=validation.LABEL,
    )
    return str(scope), text
