"""django-saga settings: one ``SAGA = {...}`` dict in the Django settings.

Each setting is declared once, in ``SETTINGS`` (``declarations``): its
default, its type and bounds, whether it is a secret, and the sentence that
documents it. The defaults, the system check and the settings reference of
the documentation (``reference_table()``, put in by ``docs/hooks.py``) all
come from it. The package's parts:

- ``setting``: ``Setting``, one declaration, and the check of one value;
- ``declarations``: ``SETTINGS``, every declaration, and the tables made of it;
- ``rules``: the further rules of particular settings;
- ``broker``: ``BROKER_URL``'s list of URLs, and each URL with its password masked;
- ``wording``: how messages show a value (secrets hidden) and an unknown key;
- ``access``: ``saga_settings``, the values read lazily and ``validate()``,
  which backs the system check;
- ``reference``: the documentation's table of settings.

Values are looked up on every access, so ``override_settings`` and the pytest
``settings`` fixture take effect at once.
"""

from .access import SagaSettings, saga_settings
from .broker import broker_urls, safe_url
from .declarations import (
    AMQP_SHORT_MAX,
    BY_NAME,
    DEFAULTS,
    MAX_JSON_BYTES_CEILING,
    MAX_JSON_DEPTH_CEILING,
    METRICS_TOKEN_MIN_CHARS,
    SECRET_SETTINGS,
    SETTINGS,
    WEBHOOK_SECRET_MIN_CHARS,
)
from .reference import reference_table
from .setting import Setting
from .wording import SETTINGS_REFERENCE, shown, unknown_key

__all__ = [
    "AMQP_SHORT_MAX",
    "BY_NAME",
    "DEFAULTS",
    "MAX_JSON_BYTES_CEILING",
    "MAX_JSON_DEPTH_CEILING",
    "METRICS_TOKEN_MIN_CHARS",
    "SECRET_SETTINGS",
    "SETTINGS",
    "SETTINGS_REFERENCE",
    "WEBHOOK_SECRET_MIN_CHARS",
    "SagaSettings",
    "Setting",
    "broker_urls",
    "reference_table",
    "safe_url",
    "saga_settings",
    "shown",
    "unknown_key",
]
