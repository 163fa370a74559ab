"""What an operator action is: one declaration every door reads.

An ``Action`` holds everything about one thing an operator may do to a
saga: its name on the trail, its URL segment and command name, the words
the pages use, the permission it needs, when it is refused, what it
changes, and the JSON object it takes, if any. The manager, the console,
the JSON API, its OpenAPI description, the admin and ``manage.py saga``
are built from the table in ``catalogue``; none of them names an action
itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import validation
from ..errors import SagaDefinitionError, brief
from ..models import Saga, SagaStep, find_step

if TYPE_CHECKING:
    from ..stores.base import Unit

#: The longest reason an operator may give.
REASON_MAX_CHARS = 2000
#: Who did it, when the caller did not say.
UNATTRIBUTED = "unattributed"
#: The app label the actions' permissions belong to (``app_label.codename``).
APP_LABEL = "django_saga"


@dataclass(frozen=True)
class Data:
    """The JSON object an action takes beside its reason (a step's new input,
    a skipped step's output): its key in a JSON body and its ``--option``."""

    key: str
    #: What the object is, as the JSON API and ``manage.py saga --help`` say it.
    meaning: str
    #: What the console's form says under the field.
    help: str
    #: None means "the step keeps its own" (an input); otherwise None is ``{}``.
    keeps_own: bool = False

    @property
    def absent(self) -> str:
        """What the action does when it is not given."""
        return "the step keeps its own" if self.keeps_own else "{}"


@dataclass(frozen=True)
class Bulk:
    """The action as the admin offers it on the selected sagas."""

    #: The admin action's name (what its form posts as ``action``).
    name: str
    #: The admin's action menu entry.
    menu: str
    #: The confirmation page's title.
    title: str
    #: What the confirmation page says beside a saga it applies to.
    applies: str
    #: The message once done: singular and plural, with ``%(count)d``.
    done: tuple[str, str]
    #: What the confirmation page adds to the action's explanation.
    warning: str = ""


#: Why an action does not apply: the saga, the steps that decide it (its
#: pivot, the step acted on) and that step, if the action takes one.
Refusal = Callable[[Saga, Sequence[SagaStep], "SagaStep | None"], "str | None"]
#: The change itself, in a unit holding the saga's rows: False if nothing changed
#: (nothing is then recorded). It adds what the trail should keep to ``details``.
Change = Callable[["Unit", "SagaStep | None", "Request", dict], bool]


@dataclass(frozen=True, eq=False)
class Action:
    """One thing an operator may do to a saga, or to one of its steps."""

    #: Its name on the trail (``Intervention.action``) and in ``manager.act()``.
    name: str
    #: Its URL segment, console URL name and ``manage.py saga`` command.
    slug: str
    label: str
    #: The permission's codename, in ``django_saga``; created by ``migrate``.
    codename: str
    #: The permission's name, as the admin lists it.
    permission_name: str
    #: What the confirmation page says will happen.
    explanation: str
    #: What the page says once it is done.
    done: str
    refuse: Refusal
    change: Change
    #: What the JSON API's description adds: when it answers 409.
    refused_when: str
    #: The OpenAPI ``operationId`` and summary.
    api_id: str
    api_summary: str
    #: The JSON API's URL segment (the slug unless it says otherwise).
    api_segment: str = ""
    on_step: bool = False
    data: Data | None = None
    #: Offered on the admin's list of sagas (saga actions only).
    bulk: Bulk | None = None
    #: Saga actions: the statuses of the steps it undoes, listed before it runs.
    undoes: tuple[str, ...] = ()
    #: The manager's own method keeps a gentler meaning than the doors: it
    #: asks ``change`` even when ``refuse`` objects (see ``apply``).
    forgiving: bool = False

    @property
    def permission(self) -> str:
        """``app_label.codename``, as ``user.has_perm`` takes it."""
        return f"{APP_LABEL}.{self.codename}"

    @property
    def segment(self) -> str:
        return self.api_segment or self.slug

    def permitted(self, user: Any) -> bool:
        return bool(user.has_perm(self.permission))

    def refusal(self, saga: Saga, steps: Sequence[SagaStep], step: str = "") -> str | None:
        """Why the action does not apply to ``saga`` as it stands (``step``:
        the name or id of the step acted on), as a sentence; None if it does."""
        return self.refuse(saga, steps, find_step(saga.pk, steps, step) if self.on_step else None)

    def data_value(self, value: Mapping[str, Any] | None, step: str) -> dict | None:
        """The action's JSON object as given, checked: None where that means
        "the step keeps its own", else a dict within the project's limits."""
        if self.data is None:
            return None
        checked = json_value(value, f"{self.data.key} of step {brief(step)}")
        if checked is None and not self.data.keeps_own:
            return {}
        return checked


@dataclass(frozen=True)
class Actor:
    """Who asks: a name for the trail, and the Django user for the admin log, if any."""

    name: str
    user: Any = None

    @classmethod
    def of(cls, by: Any) -> Actor:
        """``by`` as given to the manager: a user, a name, an ``Actor`` or None."""
        if isinstance(by, Actor):
            return by
        if by is None or by == "":
            return cls(UNATTRIBUTED)
        if isinstance(by, str):
            return cls(validation.text(by, "by (who acts)", 200, plain=validation.LABEL))
        if getattr(by, "is_authenticated", False) and getattr(by, "pk", None) is not None:
            return cls(str(by.get_username())[:200], by)
        raise SagaDefinitionError(f"by must be a user, a name or None, got {type(by).__name__}")


@dataclass
class Request:
    """One action asked of one saga: what, on which step, by whom, why."""

    action: Action
    actor: Actor
    reason: str = ""
    #: The step acted on, by name or id ("" for a saga action).
    step: str = ""
    #: The action's JSON object (``action.data``), checked.
    data: dict | None = None
    #: Seconds from now until the step or compensation is sent (a re-drive's pacing).
    delay: float = 0.0
    batch: str = ""
    #: Refuse what ``action.refuse`` refuses, even for a forgiving action.
    strict: bool = True

    @property
    def note(self) -> dict[str, str]:
        """Who asked and why, as a step's history entry records it."""
        return {"by": self.actor.name, **({"reason": self.reason} if self.reason else {})}


def reason_text(reason: Any, required: bool = False) -> str:
    """A reason as the trail stores it; ``required`` refuses a blank one."""
    if reason is None:
        reason = ""
    text = validation.text(
        reason, "reason", REASON_MAX_CHARS, blank=True, plain=validation.PROSE
    ).strip()
    if required and not text:
        raise SagaDefinitionError("A reason is required: say why, for whoever reads the trail")
    return text


def reason_of(actor: Actor, reason: Any) -> str:
    """The one rule for reasons, whatever the door: whoever is named as acting
    (a user, a name) says why; code that names no one may leave it blank, and
    the trail records it as unattributed."""
    return reason_text(reason, required=actor.name != UNATTRIBUTED)


def json_value(value: Mapping[str, Any] | None, what: str) -> dict | None:
    """An operator's input or output: a JSON object within the project's limits."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise SagaDefinitionError(f"{what} must be a JSON object, got {type(value).__name__}")
    return validation.to_json(dict(value), what)
