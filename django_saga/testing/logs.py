"""The kit's log capture: django-saga's records kept in a list while a kit is
installed, and handed to no handler of the project's, the root's or Python's
last resort (stderr), so that a step failing on purpose prints no warning
through the test run's output."""

from __future__ import annotations

import logging

#: The logger above every logger of django-saga.
LOGGER = "django_saga"
#: How ``log_text()`` writes a record (as pytest writes the logs it captured).
LOG_FORMAT = "%(levelname)-8s %(name)s:%(filename)s:%(lineno)d %(message)s"

#: A logger the capture changed, with its handlers and propagate as they were.
Saved = tuple[logging.Logger, list[logging.Handler], bool]


def capture(records: list[logging.LogRecord]) -> list[Saved]:
    """Send every record of django-saga's loggers to ``records`` and nowhere else;
    the loggers changed, for ``release()``.

    The records of ``django_saga.*`` go up to ``django_saga``, which gets the
    kit's handler alone and stops there. A logger below it that a project
    gave handlers of its own, or stopped from propagating, would keep its
    records from the kit: it loses its handlers and propagates for as long.
    """
    top = logging.getLogger(LOGGER)
    changed = [top] + [
        logger
        for name, logger in list(logging.root.manager.loggerDict.items())
        if name.startswith(LOGGER + ".")
        and isinstance(logger, logging.Logger)
        and (logger.handlers or not logger.propagate)
    ]
    saved = [(logger, logger.handlers, logger.propagate) for logger in changed]
    for logger in changed:
        logger.handlers = []
        logger.propagate = True
    top.handlers = [_Collector(records)]
    top.propagate = False
    return saved


def release(saved: list[Saved]) -> None:
    """Give each logger ``capture()`` changed its own handlers list and propagate
    back (emptying ``saved``)."""
    while saved:
        logger, handlers, propagate = saved.pop()
        logger.handlers = handlers
        logger.propagate = propagate


def hand_over(records: list[logging.LogRecord]) -> None:
    """Hand ``records`` to their loggers' handlers, as they would have gone
    with no capture (once it is released)."""
    for record in records:
        logging.getLogger(record.name).handle(record)


def messages(records: list[logging.LogRecord], level: int | str) -> list[str]:
    """The messages of ``records`` at ``level`` or above, in order."""
    least = _level(level)
    return [r.getMessage() for r in records if r.levelno >= least]


def text(records: list[logging.LogRecord], level: int | str) -> str:
    """``records`` at ``level`` or above, one formatted line each (and the
    traceback of those that carry one)."""
    least = _level(level)
    formatter = logging.Formatter(LOG_FORMAT)
    return "\n".join(formatter.format(r) for r in records if r.levelno >= least)


class _Collector(logging.Handler):
    """Appends each record it is handed to a list, at every level."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _level(level: int | str) -> int:
    number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(number, int):
        raise ValueError(f"not a logging level: {level!r}")
    return number
