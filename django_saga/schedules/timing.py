"""When a schedule ticks: a cron expression in a time zone, or a fixed
interval, between an optional start and end.

Cron expressions are read by ``cronsim`` (five fields, as Debian's cron
reads them) and time zones by ``zoneinfo``. Daylight saving time follows
Debian's cron: a tick at a fixed time that falls in the hour the clocks skip
runs when the clocks have moved on (02:30 becomes 03:00), one in the hour
they repeat runs once, and a tick whose hour is a wildcard or a range
(``*/30 * * * *``) keeps its rhythm by the wall clock, in both copies of the
repeated hour. An interval counts real seconds from its anchor (its start,
or when the schedule was made) and does not follow the clocks at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from ..errors import SagaDefinitionError, brief

#: The most due ticks worked out one by one: past it, a schedule's missed
#: ticks are skipped without being counted (69 days of a tick a minute).
MAX_TICKS_COUNTED = 100_000
#: The longest interval (a year), and the shortest (a second).
MAX_EVERY = 366 * 24 * 3600
MIN_EVERY = 1


@dataclass(frozen=True)
class Due:
    """The ticks due by now: the latest ``keep`` of them, oldest first, and how
    many were due in all (at least, when more than ``MAX_TICKS_COUNTED``)."""

    ticks: tuple[datetime, ...]
    count: int

    @property
    def missed(self) -> int:
        """Due ticks beyond those kept: they run under no policy."""
        return self.count - len(self.ticks)


@dataclass(frozen=True)
class Timing:
    """A schedule's times: ``cron`` in ``timezone``, or every ``every`` seconds
    from ``anchor``; none before ``starts`` or after ``ends``."""

    cron: str = ""
    every: int | None = None
    timezone: str = "UTC"
    starts: datetime | None = None
    ends: datetime | None = None
    #: Where an interval counts from when ``starts`` is not given.
    anchor: datetime | None = None

    def check(self, where: str) -> None:
        """Raise ``SagaDefinitionError`` naming what is wrong, if anything."""
        if bool(self.cron) == (self.every is not None):
            raise SagaDefinitionError(f"{where} takes a cron expression or an interval (every)")
        zone = self.zone(where)
        if self.cron:
            try:
                CronSim(self.cron, datetime(2000, 1, 1, tzinfo=zone))
            except CronSimError as exc:
                raise SagaDefinitionError(
                    f"{where} has a bad cron expression {brief(self.cron)}: {exc} "
                    "(five fields: minute, hour, day of month, month, day of week)"
                ) from exc
        elif (
            isinstance(self.every, bool)
            or not isinstance(self.every, int)
            or not MIN_EVERY <= self.every <= MAX_EVERY
        ):
            raise SagaDefinitionError(
                f"{where} every must be a whole number of seconds from {MIN_EVERY} to "
                f"{MAX_EVERY}, got {brief(self.every)}"
            )
        for label, value in (("starts", self.starts), ("ends", self.ends)):
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise SagaDefinitionError(
                    f"{where} {label} must be a timezone-aware datetime, got {brief(value)}"
                )
        if self.starts is not None and self.ends is not None and self.ends <= self.starts:
            raise SagaDefinitionError(f"{where} ends before it starts")

    def zone(self, where: str = "the schedule") -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise SagaDefinitionError(
                f"{where} has an unknown time zone {brief(self.timezone)} "
                "(an IANA name such as 'Europe/Berlin' or 'UTC')"
            ) from exc

    def first_after(self, moment: datetime) -> datetime | None:
        """The first tick strictly after ``moment`` (None: the schedule has ended)."""
        return next(self._ticks(moment, inclusive=False), None)

    def first_from(self, moment: datetime) -> datetime | None:
        """The first tick at or after ``moment``."""
        return next(self._ticks(moment, inclusive=True), None)

    def due(self, first: datetime, now: datetime, keep: int) -> tuple[Due, datetime | None]:
        """The ticks from ``first`` (a tick) up to ``now``: the latest ``keep``
        of them and their count, and the first tick after ``now`` (None: the
        schedule has ended)."""
        limit = now if self.ends is None else min(now, self.ends)
        kept: deque[datetime] = deque(maxlen=keep) if keep > 0 else deque(maxlen=0)
        count = 0
        if self.every is not None:
            # An interval is arithmetic: no walk, however long the gap.
            span = timedelta(seconds=self.every)
            if first <= limit:
                count = (limit - first) // span + 1
            latest = first + span * (count - 1)
            kept.extend(latest - span * n for n in reversed(range(min(count, keep))))
            return Due(tuple(kept), count), self.first_after(max(now, latest))
        for tick in self._ticks(first, inclusive=True):
            if tick > now:
                return Due(tuple(kept), count), tick
            kept.append(tick)
            count += 1
            if count >= MAX_TICKS_COUNTED:
                return Due(tuple(kept), count), self.first_after(now)
        return Due(tuple(kept), count), None

    def describe(self) -> str:
        """The schedule in words: ``At 02:00 every day, Europe/Berlin``."""
        if self.every is not None:
            return f"every {_span(self.every)}"
        try:
            words = CronSim(self.cron, datetime(2000, 1, 1, tzinfo=self.zone())).explain()
        except (CronSimError, SagaDefinitionError):
            return self.cron
        return f"{words}, {self.timezone}"

    def _ticks(self, moment: datetime, *, inclusive: bool) -> Iterator[datetime]:
        if self.starts is not None and moment < self.starts:
            moment, inclusive = self.starts, True
        for tick in self._raw(moment, inclusive):
            if self.ends is not None and tick > self.ends:
                return
            yield tick

    def _raw(self, moment: datetime, inclusive: bool) -> Iterator[datetime]:
        if self.every is not None:
            span = timedelta(seconds=self.every)
            anchor = self.starts or self.anchor or moment
            steps = (moment - anchor) // span
            tick = anchor + span * steps
            while tick < moment or (tick == moment and not inclusive):
                tick += span
            while True:
                yield tick.astimezone(UTC)
                tick += span
        else:
            zone = self.zone()
            # cronsim yields ticks strictly after the time it is given.
            start = moment - timedelta(microseconds=1) if inclusive else moment
            for tick in CronSim(self.cron, start.astimezone(zone)):
                yield tick.astimezone(UTC)


def _span(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return "second" if seconds == 1 else f"{seconds} seconds"
