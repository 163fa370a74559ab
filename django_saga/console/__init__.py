"""The operator console: pages, a JSON API and the metrics view, over the manager.

Every page asks for a staff user holding ``SAGA['CONSOLE_PERMISSION']``
(``django_saga.view_saga`` by default); each operator action also needs its
own permission (``compensate_saga``, ``retry_saga_compensation``,
``retry_saga_step``, ``skip_saga_step``, ``redrive_sagas``). The schedules'
pages also need ``django_saga.view_schedule``, and their actions
``pause_schedule`` or ``trigger_schedule``. State changes
go through the manager and ``django_saga.actions``, whose declarations
the pages and the JSON endpoints are made from; the pages read the
Django-model store.

- ``forms``: the reason, input, output and rate an operator gives, shared with the admin;
- ``parsing``: JSON an operator hands over (a form, an API body, a file), read or refused;
- ``queries``: the querysets behind the lists (filters, progress counts);
- ``formatting``: durations, progress and JSON as the pages and the admin show them;
- ``rows``: what one row or step card shows, built next to the model, not on it;
- ``access``: who may see what, CSRF for the JSON API, and no framing;
- ``schedules``: schedules as the pages show them, and the operator's actions on one;
- ``pages``: the HTML views, one module a page; ``json_api``: the JSON endpoints,
  and ``schedule_api`` the schedules', described by ``openapi``;
- ``metrics_view``: Prometheus exposition for console users or a scraper's token.
"""
