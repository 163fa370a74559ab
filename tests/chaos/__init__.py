"""Fault injection for django-saga: handlers, an effect ledger and a scenario runner.

``scenario.py`` runs many sagas through engine subprocesses while it kills
engines, restarts RabbitMQ, cuts database connections and injects duplicate
and poison messages, then checks that every local effect happened exactly as
often as the saga's final state says it should. ``manage.py saga_chaos`` runs
it at any size; ``tests/integration/test_chaos.py`` runs it small.
"""
