"""Each saga's timeline: what happened to its steps, in the order it happened,
read from the steps' history as it grows."""

from __future__ import annotations

from typing import NamedTuple

from ..stores.django import DjangoStore


class Event(NamedTuple):
    """One entry of a saga's timeline: equal to the plain tuple
    ``(kind, step, outcome)``, e.g. ``("execute", "charge", "retrying")``."""

    kind: str
    step: str
    outcome: str


class Timelines:
    """The timelines of the sagas a kit has seen, each added to as it looks again."""

    def __init__(self, store: DjangoStore) -> None:
        self.store = store
        self._timelines: dict[str, list[Event]] = {}
        # Per saga: how many history entries of each step the timeline holds.
        self._seen: dict[str, dict[str, int]] = {}

    def observe(self, saga_id: str) -> None:
        """Add the saga's history entries written since the last look to its timeline."""
        seen = self._seen.setdefault(saga_id, {})
        timeline = self._timelines.setdefault(saga_id, [])
        for step in self.store.load_saga(saga_id).steps:
            known = seen.get(step.pk, 0)
            for entry in step.history[known:]:
                timeline.append(
                    Event(str(entry.get("kind", "")), step.name, str(entry.get("outcome", "")))
                )
            seen[step.pk] = len(step.history)

    def observe_all(self) -> None:
        """Look again at every saga seen so far."""
        for saga_id in list(self._seen):
            self.observe(saga_id)

    def of(self, saga_id: str) -> list[Event]:
        """The saga's timeline as it stands now (a copy)."""
        self.observe(saga_id)
        return list(self._timelines.get(saga_id, []))
