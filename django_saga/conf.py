"""django-saga settings: one ``SAGA = {...}`` dict in the Django settings.

Values are looked up on every access, so ``override_settings`` and the pytest
``settings`` fixture take effect at once. ``validate()`` backs the system check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings

DEFAULTS: dict[str, Any] = {
    # Broker: an amqp:// URL for RabbitMQ, or memory:// for the in-process transport.
    "BROKER_URL": "amqp://guest:guest@localhost:5672/%2F",
    # The broker password, if the URL leaves it out: Django's error pages hide
    # settings named like this one, but would show a password inside the URL.
    "BROKER_PASSWORD": "",
    "EXCHANGE": "sagas",
    "STEP_QUEUE": "saga.steps",
    "COMPENSATE_QUEUE": "saga.compensate",
    "DEAD_LETTER_EXCHANGE": "sagas.dlx",
    "DEAD_LETTER_QUEUE": "saga.dead",
    # "classic" or "quorum" (for clustered brokers).
    "QUEUE_TYPE": "classic",
    # Unacknowledged messages the broker may push to one engine process.
    "PREFETCH": 16,
    # Handler threads per engine process.
    "CONCURRENCY": 4,
    # AMQP heartbeat in seconds (0 disables).
    "HEARTBEAT": 60,
    # Dotted path of the store class.
    "STORE": "django_saga.stores.django.DjangoStore",
    # A failed step starts compensation at once; if False the saga stays
    # "failed" until someone calls manager.compensate().
    "AUTO_COMPENSATE": True,
    # start() refuses actions that have no registered handler in this process.
    "CHECK_HANDLERS_ON_START": True,
    # Seconds between outbox relay passes.
    "RELAY_INTERVAL": 0.5,
    # Rows one relay pass publishes at most.
    "RELAY_BATCH": 200,
    # Seconds the engine has to publish what it wrote itself before the relay
    # of any engine takes over the row.
    "PUBLISH_GRACE": 10.0,
    # Messages larger than this (bytes) are dead-lettered unread.
    "MAX_MESSAGE_BYTES": 64 * 1024,
    # Each context, step input and output: at most this many bytes of JSON ...
    "MAX_JSON_BYTES": 256 * 1024,
    # ... nested at most this many arrays and objects deep.
    "MAX_JSON_DEPTH": 32,
    # Sent outbox rows are kept this many seconds for inspection, then purged.
    "OUTBOX_RETENTION": 3600,
    # Seconds SIGTERM gives in-flight handlers before the engine exits anyway.
    "SHUTDOWN_GRACE": 30.0,
    # Retries of steps that raise RetryableError (or a RETRY_ON type); a
    # handler's own policy overrides these per action.
    "RETRY_MAX_ATTEMPTS": 3,
    "RETRY_BACKOFF": 1.0,
    "RETRY_MAX_DELAY": 300.0,
    "RETRY_JITTER": 0.2,
    # Dotted paths of exception types retried like RetryableError.
    "RETRY_ON": [],
    # Attempts a compensation gets (on any exception) before the saga stops
    # in compensation_failed.
    "COMPENSATION_MAX_ATTEMPTS": 5,
    # Default step timeout in seconds (None: no timeout).
    "STEP_TIMEOUT": None,
    # Seconds between sweeps for timed-out steps, passed deadlines, stale sagas.
    "SWEEP_INTERVAL": 5.0,
    # An active saga with no progress for this many seconds is logged as stale.
    "STALE_AFTER": 3600.0,
    # Quorum queues only: deliveries of one message before it is dead-lettered.
    "DELIVERY_LIMIT": 20,
    # Operator console (django_saga.urls): only staff users may use it ...
    "CONSOLE_STAFF_ONLY": True,
    # ... who also hold this permission ("" for none beyond staff).
    "CONSOLE_PERMISSION": "django_saga.view_saga",
    # PostgreSQL: the engine prepares its per-message statements (server-side
    # binding). Turn off behind a pooler that cannot keep prepared statements.
    "PREPARED_STATEMENTS": True,
    # Secret for the step-result webhook's HMAC signatures ("" turns it off);
    # a list accepts several while a secret is rotated.
    "WEBHOOK_SECRET": "",
    # Webhook bodies larger than this (bytes) are refused before they are read.
    "WEBHOOK_MAX_BYTES": 512 * 1024,
    # Seconds a signed report's timestamp may be away from this server's clock.
    "WEBHOOK_TOLERANCE": 300,
    # Sagas per page in the console's list.
    "CONSOLE_PAGE_SIZE": 50,
    # Seconds between reloads of a saga's page while it is active (0: never).
    "CONSOLE_REFRESH": 5,
    # If set, the metrics view also answers requests bearing
    # "Authorization: Bearer <token>" (for a Prometheus scraper).
    "METRICS_TOKEN": "",
}

_QUEUE_TYPES = ("classic", "quorum")


#: Settings whose values no message ever shows.
SECRET_SETTINGS = ("BROKER_PASSWORD", "WEBHOOK_SECRET", "METRICS_TOKEN")
#: Settings that are spans of time, bounded like every other (see clock.MAX_SECONDS).
_SPANS = (
    "RELAY_INTERVAL", "PUBLISH_GRACE", "OUTBOX_RETENTION", "SHUTDOWN_GRACE", "RETRY_BACKOFF",
    "RETRY_MAX_DELAY", "STEP_TIMEOUT", "SWEEP_INTERVAL", "STALE_AFTER", "CONSOLE_REFRESH",
    "WEBHOOK_TOLERANCE",
)  # fmt: skip


@dataclass(frozen=True)
class _Rule:
    kind: type | tuple[type, ...]
    positive: bool = False
    choices: tuple[str, ...] = ()
    nonempty: bool = False


_RULES: dict[str, _Rule] = {
    "BROKER_URL": _Rule(str, nonempty=True),
    "BROKER_PASSWORD": _Rule(str),
    "EXCHANGE": _Rule(str, nonempty=True),
    "STEP_QUEUE": _Rule(str, nonempty=True),
    "COMPENSATE_QUEUE": _Rule(str, nonempty=True),
    "DEAD_LETTER_EXCHANGE": _Rule(str, nonempty=True),
    "DEAD_LETTER_QUEUE": _Rule(str, nonempty=True),
    "QUEUE_TYPE": _Rule(str, choices=_QUEUE_TYPES),
    "PREFETCH": _Rule(int, positive=True),
    "CONCURRENCY": _Rule(int, positive=True),
    "HEARTBEAT": _Rule(int),
    "STORE": _Rule(str, nonempty=True),
    "AUTO_COMPENSATE": _Rule(bool),
    "CHECK_HANDLERS_ON_START": _Rule(bool),
    "RELAY_INTERVAL": _Rule((int, float), positive=True),
    "RELAY_BATCH": _Rule(int, positive=True),
    "PUBLISH_GRACE": _Rule((int, float), positive=True),
    "MAX_MESSAGE_BYTES": _Rule(int, positive=True),
    "MAX_JSON_BYTES": _Rule(int, positive=True),
    "MAX_JSON_DEPTH": _Rule(int, positive=True),
    "OUTBOX_RETENTION": _Rule((int, float)),
    "SHUTDOWN_GRACE": _Rule((int, float)),
    "RETRY_MAX_ATTEMPTS": _Rule(int, positive=True),
    "RETRY_BACKOFF": _Rule((int, float)),
    "RETRY_MAX_DELAY": _Rule((int, float)),
    "RETRY_JITTER": _Rule((int, float)),
    "RETRY_ON": _Rule((list, tuple)),
    "COMPENSATION_MAX_ATTEMPTS": _Rule(int, positive=True),
    "STEP_TIMEOUT": _Rule((int, float, type(None))),
    "SWEEP_INTERVAL": _Rule((int, float), positive=True),
    "STALE_AFTER": _Rule((int, float), positive=True),
    "DELIVERY_LIMIT": _Rule(int, positive=True),
    "CONSOLE_STAFF_ONLY": _Rule(bool),
    "CONSOLE_PERMISSION": _Rule(str),
    "CONSOLE_PAGE_SIZE": _Rule(int, positive=True),
    "CONSOLE_REFRESH": _Rule((int, float)),
    "METRICS_TOKEN": _Rule(str),
    "WEBHOOK_SECRET": _Rule((str, list, tuple)),
    "WEBHOOK_MAX_BYTES": _Rule(int, positive=True),
    "WEBHOOK_TOLERANCE": _Rule((int, float), positive=True),
    "PREPARED_STATEMENTS": _Rule(bool),
}


class SagaSettings:
    """Attribute access to ``settings.SAGA`` with defaults, read lazily."""

    def _user(self) -> dict[str, Any]:
        value = getattr(django_settings, "SAGA", None) or {}
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown django-saga setting SAGA[{name!r}]")
        return self._user().get(name, DEFAULTS[name])

    def validate(self) -> list[str]:
        """Return one message per bad value; an empty list means all is well."""
        raw = getattr(django_settings, "SAGA", None)
        if raw is not None and not isinstance(raw, dict):
            return [f"SAGA must be a dict, got {type(raw).__name__}"]
        user = raw or {}
        problems = [
            f"SAGA[{key!r}] is not a django-saga setting; known settings: "
            + ", ".join(sorted(DEFAULTS))
            for key in user
            if key not in DEFAULTS
        ]
        for key, rule in _RULES.items():
            value = user.get(key, DEFAULTS[key])
            problem = _check(value, rule) or _check_span(key, value)
            if problem:
                problems.append(f"SAGA[{key!r}] = {shown(key, value)}: {problem}")
        jitter = user.get("RETRY_JITTER", DEFAULTS["RETRY_JITTER"])
        if isinstance(jitter, int | float) and not isinstance(jitter, bool) and jitter > 1:
            problems.append(f"SAGA['RETRY_JITTER'] = {jitter!r}: must be between 0 and 1")
        for path in (
            user.get("RETRY_ON", []) if isinstance(user.get("RETRY_ON"), list | tuple) else []
        ):
            problem = _check_exception_path(path)
            if problem:
                problems.append(f"SAGA['RETRY_ON'] entry {path!r}: {problem}")
        secret = user.get("WEBHOOK_SECRET", "")
        if isinstance(secret, list | tuple) and not all(isinstance(v, str) for v in secret):
            problems.append("SAGA['WEBHOOK_SECRET'] must hold strings only (values hidden)")
        url = user.get("BROKER_URL", DEFAULTS["BROKER_URL"])
        if isinstance(url, str) and not url.startswith(("amqp://", "amqps://", "memory://")):
            problems.append(
                f"SAGA['BROKER_URL'] = {safe_url(url)!r}: must start with amqp://, amqps:// "
                "or memory://"
            )
        elif isinstance(url, str) and (port_problem := _url_port_problem(url)):
            problems.append(f"SAGA['BROKER_URL'] = {safe_url(url)!r}: {port_problem}")
        if user.get("BROKER_PASSWORD") and isinstance(url, str) and _url_password(url):
            problems.append(
                "SAGA['BROKER_PASSWORD'] is set and SAGA['BROKER_URL'] holds a password too: "
                "give it in one place (BROKER_PASSWORD keeps it off Django's error pages)"
            )
        return problems


def shown(key: str, value: Any) -> str:
    """A setting's value as messages may show it: secrets hidden, URLs masked."""
    if key in SECRET_SETTINGS:
        return f"<hidden {type(value).__name__}>"
    if key == "BROKER_URL" and isinstance(value, str):
        return repr(safe_url(value))
    from .validation import brief

    return brief(value)


def safe_url(url: str) -> str:
    """``url`` with its password masked, for checks, logs and error messages."""
    if not _url_password(url):
        return url
    scheme, _, rest = url.partition("://")
    credentials, _, host = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{host}"


def _url_password(url: str) -> bool:
    """Whether ``url`` carries a password (read by hand: a malformed URL must not raise)."""
    rest = url.partition("://")[2]
    netloc = rest.split("/", 1)[0]
    credentials = netloc.rpartition("@")[0]
    return ":" in credentials


def _url_port_problem(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        port = urlsplit(url).port
    except ValueError as exc:
        return f"its port is not a number from 0 to 65535 ({exc})"
    return None if port is None or port > 0 else "its port must not be 0"


def _check_span(key: str, value: Any) -> str | None:
    """A span of time must be finite and at most ``clock.MAX_SECONDS``."""
    from .clock import MAX_SECONDS

    if key not in _SPANS or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number of seconds"
    if value > MAX_SECONDS:
        return f"must be at most {MAX_SECONDS:g} seconds (366 days)"
    return None


def _check_exception_path(path: Any) -> str | None:
    from django.utils.module_loading import import_string

    if not isinstance(path, str):
        return "must be a dotted path string"
    try:
        found = import_string(path)
    except ImportError as exc:
        return f"cannot be imported ({exc})"
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        return "is not an exception class"
    return None


def _check(value: Any, rule: _Rule) -> str | None:
    names = rule.kind if isinstance(rule.kind, tuple) else (rule.kind,)
    # bool is an int subclass: accept it only where a bool is asked for.
    if not isinstance(value, rule.kind) or (isinstance(value, bool) and bool not in names):
        expected = " or ".join(k.__name__ for k in names)
        return f"expected {expected}, got {type(value).__name__}"
    if rule.nonempty and not value:
        return "must not be empty"
    if isinstance(value, float) and math.isnan(value):
        return "must be a number, not NaN"
    if isinstance(value, int | float):
        if rule.positive and value <= 0:
            return "must be greater than zero"
        if value < 0:
            return "must not be negative"
    if rule.choices and value not in rule.choices:
        return "must be one of " + ", ".join(rule.choices)
    return None


saga_settings = SagaSettings()
