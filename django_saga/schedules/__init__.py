"""Scheduled sagas: a saga started at each tick of a cron expression or an
interval, exactly once per tick however many engines run.

- ``timing``: when a schedule ticks (cron in a time zone, or an interval);
- ``declaration``: ``schedule(...)``, as an app's ``sagas.py`` lists them;
- ``sync``: the rows of code's schedules, made when an engine starts;
- ``ticking``: start the due schedules' runs, under their rows' locks;
- ``ticker``: the engine's thread that ticks;
- ``fields``: a schedule as JSON, for the command line and the JSON API.

Pause, resume and run now are the operator's (``actions.schedules``).
"""
