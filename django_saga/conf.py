"""django-saga settings: one ``SAGA = {...}`` dict in the Django settings.

Each setting is declared once, in ``SETTINGS``: its default, its type and
bounds, whether it is a secret, and the sentence that documents it. The
defaults, the system check and the settings reference of the documentation
(``reference_table()``, put in by ``docs/hooks.py``) all come from it.

Values are looked up on every access, so ``override_settings`` and the pytest
``settings`` fixture take effect at once. ``validate()`` backs the system check.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings

from .clock import MAX_SECONDS
from .errors import brief


@dataclass(frozen=True)
class Setting:
    """One key of ``SAGA``: its default, what values it takes, and what it does."""

    name: str
    default: Any
    kind: type | tuple[type, ...]
    doc: str
    #: Numbers must be greater than zero (otherwise at least zero).
    positive: bool = False
    #: A number of seconds: finite, and at most 366 days.
    span: bool = False
    #: The highest number allowed, if any.
    most: float | None = None
    #: The fewest characters a string (each string of a list) may hold unless
    #: it is empty, which turns off what it keys.
    min_chars: int = 0
    #: Why ``most`` and ``min_chars`` are what they are: said with a refusal.
    why: str = ""
    choices: tuple[str, ...] = ()
    nonempty: bool = False
    #: Never shown in a message.
    secret: bool = False
    #: A further rule: a problem with the value, or None.
    rule: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this setting (None if nothing)."""
        names = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        # bool is an int subclass: accept it only where a bool is asked for.
        if not isinstance(value, self.kind) or (isinstance(value, bool) and bool not in names):
            expected = " or ".join(k.__name__ for k in names)
            return f"expected {expected}, got {type(value).__name__}"
        if self.nonempty and not value:
            return "must not be empty"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) and math.isnan(value):
                return "must be a number, not NaN"
            if self.positive and value <= 0:
                return "must be greater than zero"
            if value < 0:
                return "must not be negative"
            if self.span and isinstance(value, float) and not math.isfinite(value):
                return "must be a finite number of seconds"
            if self.span and value > MAX_SECONDS:
                return f"must be at most {MAX_SECONDS:g} seconds (366 days)"
            if self.most is not None and value > self.most:
                return f"must be at most {_number(self.most)}{self._why()}"
        if self.choices and value not in self.choices:
            return "must be one of " + ", ".join(self.choices)
        if self.rule is not None and (problem := self.rule(value)) is not None:
            return problem
        return self._chars_problem(value)

    def _chars_problem(self, value: Any) -> str | None:
        strings = value if isinstance(value, list | tuple) else [value]
        each = " each" if strings is value else ""
        for string in strings:
            if not isinstance(string, str) or not string:
                continue
            if not string.strip():
                return f"must not be only spaces{each} (an empty string turns it off)"
            if len(string) < self.min_chars:
                return f"must be at least {self.min_chars} characters{each}{self._why()}"
        return None

    def _why(self) -> str:
        return f" ({self.why})" if self.why else ""


def _number(value: float) -> str:
    """``65,535`` rather than ``65535``, and ``6.71089e+07`` never."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,g}"


def _broker_url(value: str | list[str] | tuple[str, ...]) -> str | None:
    if isinstance(value, list | tuple) and not all(isinstance(v, str) for v in value):
        return "must hold strings only"
    urls = broker_urls(value)
    if not urls:
        return "must not be empty"
    if len(urls) > 1 and any(url.startswith("memory://") for url in urls):
        return "memory:// names one in-process broker: it cannot be listed with others"
    for url in urls:
        if not url.startswith(("amqp://", "amqps://", "memory://")):
            return "must start with amqp://, amqps:// or memory://" + (
                f" (not {safe_url(url)!r})" if len(urls) > 1 else ""
            )
        if problem := _url_port_problem(url):
            return problem
    return None


def _database_alias(alias: str | None) -> str | None:
    if alias is not None and alias not in django_settings.DATABASES:
        return "must name a database in DATABASES"
    return None


def _exception_paths(paths: list[str] | tuple[str, ...]) -> str | None:
    problems = [
        f"entry {brief(path)} {problem}"
        for path in paths
        if (problem := _check_exception_path(path)) is not None
    ]
    return "; ".join(problems) or None


def _secret_list(value: str | list[str] | tuple[str, ...]) -> str | None:
    if isinstance(value, list | tuple) and not all(isinstance(v, str) for v in value):
        return "must hold strings only"
    return None


def _token(value: str) -> str | None:
    if any(char.isspace() or not char.isprintable() for char in value):
        return (
            "must hold no spaces or control characters: it is sent in an HTTP header, "
            "which trims or refuses them"
        )
    return None


#: The fewest characters of ``WEBHOOK_SECRET``: a signed report, which passes
#: through the sender's and the network's hands, lets whoever holds one test
#: guesses of the secret offline, as fast as HMAC-SHA256 runs.
WEBHOOK_SECRET_MIN_CHARS = 32
#: The fewest characters of ``METRICS_TOKEN``: it is guessed online, one
#: request a guess, so fewer random characters suffice than for an HMAC key.
METRICS_TOKEN_MIN_CHARS = 16
#: AMQP carries a prefetch count and a heartbeat in 16 bits.
AMQP_SHORT_MAX = 65535
#: The most ``MAX_JSON_BYTES`` may allow (64 MiB).
MAX_JSON_BYTES_CEILING = 64 * 1024 * 1024
#: The most ``MAX_JSON_DEPTH`` may allow.
MAX_JSON_DEPTH_CEILING = 256


def _finite(value: float | None) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number of seconds (None keeps everything)"
    return None


_NUMBER = (int, float)

SETTINGS: tuple[Setting, ...] = (
    # -- the broker ---------------------------------------------------------------
    Setting(
        "BROKER_URL", "amqp://guest:guest@localhost:5672/%2F", (str, list, tuple),
        "RabbitMQ URL (`amqp://`, `amqps://`), or `memory://NAME` for the in-process "
        "transport (tests, demos: one process only); the nodes of a cluster as a list of "
        "URLs, or one string of URLs separated by spaces, tried in order at every "
        "(re)connection",
        nonempty=True, rule=_broker_url,
    ),
    Setting(
        "BROKER_PASSWORD", "", str,
        "the broker password, for a `BROKER_URL` written without one "
        "(`amqp://saga@rabbit:5672/%2F`): Django's DEBUG error page hides settings named "
        "like this one but would show a password inside the URL; giving both is a "
        "configuration error",
        secret=True,
    ),
    Setting("EXCHANGE", "sagas", str,
            "durable direct exchange for step messages",
            nonempty=True),
    Setting("STEP_QUEUE", "saga.steps", str,
            "queue, and routing key, of execute messages", nonempty=True),
    Setting("COMPENSATE_QUEUE", "saga.compensate", str,
            "queue, and routing key, of compensate messages",
            nonempty=True),
    Setting("DEAD_LETTER_EXCHANGE", "sagas.dlx", str,
            "fanout exchange for messages that cannot be processed", nonempty=True),
    Setting("DEAD_LETTER_QUEUE", "saga.dead", str,
            "where those messages wait for an operator", nonempty=True),
    Setting("QUEUE_TYPE", "classic", str, "`classic` or `quorum` (clustered brokers)",
            choices=("classic", "quorum")),
    Setting("DELIVERY_LIMIT", 20, int,
            "quorum queues: deliveries before a message is dead-lettered", positive=True),
    Setting(
        "PREFETCH", 64, int,
        "unacknowledged messages per consumer: enough for every handler thread's batch "
        "(`CONCURRENCY` x `BATCH_SIZE`) to fill under load; at most 65,535",
        positive=True, most=AMQP_SHORT_MAX, why="AMQP carries it in 16 bits",
    ),
    Setting("HEARTBEAT", 60, int, "AMQP heartbeat, seconds (0 disables it); at most 65,535",
            most=AMQP_SHORT_MAX, why="AMQP carries it in 16 bits"),
    Setting("MAX_MESSAGE_BYTES", 64 * 1024, int, "larger messages are dead-lettered unread",
            positive=True),
    # -- the engine ---------------------------------------------------------------
    Setting("CONCURRENCY", 4, int, "handler threads per engine process", positive=True),
    Setting(
        "BATCH_SIZE", 8, int,
        "PostgreSQL: most messages a handler thread records in one transaction, when more "
        "wait than idle threads would take (`1`: one transaction per message)",
        positive=True,
    ),
    Setting(
        "STORE", "django_saga.stores.django.DjangoStore", str,
        "store class; `django_saga.stores.memory.MemoryStore` keeps sagas in process memory",
        nonempty=True,
    ),
    Setting("AUTO_COMPENSATE", True, bool,
            "compensate as soon as a step fails; if `False` the saga stops in `failed`"),
    Setting("CHECK_HANDLERS_ON_START", True, bool,
            "`start()` refuses actions with no handler in this process"),
    Setting(
        "RELAY_INTERVAL", 0.5, _NUMBER,
        "longest wait between outbox relay passes: on PostgreSQL a `NOTIFY` from `start()` "
        "wakes one relay at once (the others poll), and a relay wakes when a retry its "
        "engine scheduled comes due",
        positive=True, span=True,
    ),
    Setting(
        "LISTEN_DATABASE", None, (str, type(None)),
        "PostgreSQL: the `DATABASES` alias whose connection the listening relay holds for "
        "`LISTEN` (`None`: the store's own); behind a pooler in transaction mode (PgBouncer), "
        "which cannot keep a `LISTEN` or a session lock, name one that reaches the same "
        "database directly, or every relay only polls",
        rule=_database_alias,
    ),
    Setting("RELAY_BATCH", 200, int, "rows one relay pass publishes at most", positive=True),
    Setting("PUBLISH_GRACE", 10.0, _NUMBER,
            "seconds a relay has to publish the outbox rows it claimed before another "
            "relay may take them over",
            positive=True, span=True),
    Setting("OUTBOX_RETENTION", 3600, _NUMBER,
            "seconds sent outbox rows are kept for inspection", span=True),
    Setting("HISTORY_RETENTION", 30 * 24 * 3600, (int, float, type(None)),
            "seconds `completed` and `compensated` sagas are kept after they finish (`None` "
            "keeps everything); `failed`, `halted` and `compensation_failed` sagas are never "
            "purged",
            positive=True, most=100 * 366 * 24 * 3600, rule=_finite),
    Setting("AUDIT_RETENTION", 400 * 24 * 3600, (int, float, type(None)),
            "seconds the audit trail (who did what to a saga, and why) is kept after the "
            "action, whether or not its saga was purged meanwhile (`None` keeps it for "
            "ever); an entry of a saga that still exists is never purged",
            positive=True, most=100 * 366 * 24 * 3600, rule=_finite),
    Setting("PURGE_IN_ENGINE", True, bool,
            "engines purge sagas older than `HISTORY_RETENTION` as they sweep, a second "
            "at a time; `False` leaves it to `manage.py saga_purge` (from cron, say)"),
    Setting("SHUTDOWN_GRACE", 30.0, _NUMBER, "seconds SIGTERM gives in-flight steps",
            span=True),
    Setting("SWEEP_INTERVAL", 5.0, _NUMBER,
            "seconds between sweeps for timeouts, deadlines and stale sagas",
            positive=True, span=True),
    Setting("STALE_AFTER", 3600.0, _NUMBER,
            "seconds without progress before an active saga is reported stale",
            positive=True, span=True),
    Setting(
        "PREPARED_STATEMENTS", True, bool,
        "PostgreSQL: `start()` and the engine's per-message statements are bound on the "
        "server and prepared once per connection (Django's own queries stay as `OPTIONS` "
        "make them); turn off behind a pooler that cannot keep prepared statements "
        "(PgBouncer before 1.21, or without `max_prepared_statements`); a process that "
        "finds them lost logs an error naming this setting, retries the message and goes "
        "on without them",
    ),
    # -- retries and time ---------------------------------------------------------
    Setting("RETRY_MAX_ATTEMPTS", 3, int,
            "attempts of a step that raises `RetryableError`", positive=True),
    Setting("RETRY_BACKOFF", 1.0, _NUMBER,
            "seconds before the second attempt; doubles after each failure", span=True),
    Setting("RETRY_MAX_DELAY", 300.0, _NUMBER, "cap on one retry delay, seconds", span=True),
    Setting("RETRY_JITTER", 0.2, _NUMBER, "delays vary by ± this fraction (0 to 1)", most=1),
    Setting("RETRY_ON", [], (list, tuple),
            "dotted paths of exception types retried like `RetryableError`",
            rule=_exception_paths),
    Setting("COMPENSATION_MAX_ATTEMPTS", 5, int,
            "attempts of a compensation before `compensation_failed`", positive=True),
    Setting("STEP_TIMEOUT", None, (int, float, type(None)),
            "default seconds one step attempt may take (`None`: no limit)", span=True),
    # -- what callers may hand over -----------------------------------------------
    Setting("MAX_JSON_BYTES", 256 * 1024, int,
            "the most bytes of JSON one context, step input or output may take "
            "(see *What is validated*); at most 64 MiB", positive=True,
            most=MAX_JSON_BYTES_CEILING,
            why="each step reads and writes its saga's context whole, and PostgreSQL's "
                "jsonb stops at 255 MiB"),
    Setting("MAX_JSON_DEPTH", 32, int,
            "the most arrays and objects one of those may nest; at most 256",
            positive=True, most=MAX_JSON_DEPTH_CEILING,
            why="Python's JSON encoder, and any handler walking the value, recurses once a "
                "level, up to the interpreter's recursion limit of 1,000"),
    # -- the console, the webhook, metrics ----------------------------------------
    Setting("CONSOLE_STAFF_ONLY", True, bool, "only staff users may open the console views"),
    Setting("CONSOLE_PERMISSION", "django_saga.view_saga", str,
            "permission the console views require besides staff (`\"\"`: none)"),
    Setting("CONSOLE_PAGE_SIZE", 50, int, "sagas per page in the console list",
            positive=True),
    Setting(
        "CONSOLE_DATABASE", None, (str, type(None)),
        "the `DATABASES` alias (a read replica) the console's pages read from, with "
        "`django_saga.routers.ConsoleReadRouter` in `DATABASE_ROUTERS`; actions always use "
        "the primary (`None`: the pages read the primary too)",
        rule=_database_alias,
    ),
    Setting("CONSOLE_REFRESH", 5, _NUMBER,
            "seconds between reloads of an active saga's page (0: never)", span=True),
    Setting("METRICS_TOKEN", "", str,
            "a bearer token that opens the metrics view, and the engine's metrics port, "
            "to a scraper; when set, at least 16 characters and no spaces", secret=True,
            min_chars=METRICS_TOKEN_MIN_CHARS, rule=_token,
            why="anyone who reaches the port may guess it, one request a guess: 16 random "
                "characters are out of reach"),
    Setting("WEBHOOK_SECRET", "", (str, list, tuple),
            "HMAC secret of the step-result webhook (a list while rotating); `\"\"` turns "
            "the webhook off; each secret at least 32 characters "
            "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)",
            secret=True, rule=_secret_list, min_chars=WEBHOOK_SECRET_MIN_CHARS,
            why="whoever sees one signed report can test guesses of the secret offline, as "
                "fast as HMAC-SHA256 runs"),
    Setting("WEBHOOK_MAX_BYTES", 512 * 1024, int,
            "webhook bodies over this are refused (`413`) before they are read",
            positive=True),
    Setting("WEBHOOK_TOLERANCE", 300, _NUMBER,
            "seconds a webhook report's signed timestamp may be away from the server's clock",
            positive=True, span=True),
)  # fmt: skip

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}
SECRET_SETTINGS = tuple(setting.name for setting in SETTINGS if setting.secret)


class SagaSettings:
    """Attribute access to ``settings.SAGA`` with defaults, read lazily."""

    def _user(self) -> dict[str, Any]:
        value = getattr(django_settings, "SAGA", None) or {}
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in BY_NAME:
            raise AttributeError(f"Unknown django-saga setting SAGA[{brief(name)}]{_nearest(name)}")
        return self._user().get(name, BY_NAME[name].default)

    def problem_with(self, name: str) -> str | None:
        """What is wrong with ``SAGA[name]`` now, worded as the check words it
        (None if nothing): for code whose safety rests on a setting, which must
        refuse to work rather than work unchecked when the value is bad."""
        value = getattr(self, name)
        problem = BY_NAME[name].problem(value)
        return None if problem is None else f"SAGA[{name!r}] = {shown(name, value)}: {problem}"

    def validate(self) -> list[str]:
        """Return one message per bad value; an empty list means all is well."""
        raw = getattr(django_settings, "SAGA", None)
        if raw is not None and not isinstance(raw, dict):
            return [f"SAGA must be a dict, got {type(raw).__name__}"]
        user = raw or {}
        problems = [unknown_key(key) for key in user if key not in BY_NAME]
        for setting in SETTINGS:
            value = user.get(setting.name, setting.default)
            problem = setting.problem(value)
            if problem:
                problems.append(f"SAGA[{setting.name!r}] = {shown(setting.name, value)}: {problem}")
        url = user.get("BROKER_URL", DEFAULTS["BROKER_URL"])
        if user.get("BROKER_PASSWORD") and any(_url_password(u) for u in _strings(url)):
            problems.append(
                "SAGA['BROKER_PASSWORD'] is set and SAGA['BROKER_URL'] holds a password too: "
                "give it in one place (BROKER_PASSWORD keeps it off Django's error pages)"
            )
        return problems


#: Where a key that resembles no setting is sent: the table of every setting.
SETTINGS_REFERENCE = "docs/reference/settings.md"


def unknown_key(key: Any) -> str:
    """The check's message for a key of ``SAGA`` that is no setting: the settings
    it most resembles, or, when none is close, where they are all listed."""
    suggestion = _nearest(key)
    if suggestion:
        return f"SAGA[{brief(key)}] is not a django-saga setting{suggestion}"
    return (
        f"SAGA[{brief(key)}] is not a django-saga setting, nor close to one "
        f"(the settings reference, {SETTINGS_REFERENCE}, lists them all)"
    )


def _nearest(key: Any) -> str:
    """``: did you mean 'X'?`` naming the settings closest to ``key`` (a wrong
    case is no typo: that setting alone), or "" if none is close."""
    if not isinstance(key, str):
        return ""
    upper = key.upper()
    close = [upper] if upper in BY_NAME else difflib.get_close_matches(upper, BY_NAME, n=3)
    if not close:
        return ""
    quoted = [repr(name) for name in close]
    options = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f": did you mean {options}?"


def reference_table() -> str:
    """The documentation's table of settings, as Markdown: one row per declared setting."""
    rows = ["| key | default | what it does |", "|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        shown_default = (
            f"`{default}`"
            if isinstance(default, str) and default
            else ('`""`' if default == "" else f"`{default!r}`")
        )
        rows.append(f"| `{setting.name}` | {shown_default} | {setting.doc} |")
    return "\n".join(rows)


def shown(key: str, value: Any) -> str:
    """A setting's value as messages may show it: secrets hidden, URLs masked."""
    if key in SECRET_SETTINGS:
        return f"<hidden {type(value).__name__}>"
    if key == "BROKER_URL" and isinstance(value, str):
        return repr(safe_url(value))
    if key == "BROKER_URL" and isinstance(value, list | tuple):
        return brief(type(value)(safe_url(v) if isinstance(v, str) else v for v in value))
    return brief(value)


def broker_urls(value: str | Sequence[str]) -> list[str]:
    """The URLs of ``BROKER_URL``: a list or tuple of them, or one string of
    URLs separated by spaces (a URL holds no space: ``%20`` stands for one)."""
    if isinstance(value, str):
        return value.split()
    return [url for entry in value for url in entry.split()]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def safe_url(url: str | Sequence[str]) -> str:
    """``url`` with its password masked, for checks, logs and error messages
    (several URLs are masked each, and separated by spaces).

    Read by hand, never by a URL parser, so that no URL can make it fail or
    show a password: when the part before the last ``@`` cannot be told from
    a host and a path (a password holding ``/``, ``?`` or ``#``, or no
    scheme), all of it is masked; a URL cut at a space (a password holding
    one) loses what could be a password on both sides of the cut.
    """
    if not isinstance(url, str):
        return " ".join(safe_url(u) for u in url)
    if len(parts := url.split()) > 1:
        return " ".join(safe_url(u) for u in parts)
    scheme, sep, rest = url.partition("://")
    prefix = scheme + sep if sep else ""
    if not sep:
        rest = url
    credentials, at, after = rest.rpartition("@")
    if not at:
        return prefix + _masked_port(rest)
    if sep and _AUTHORITY_END.search(credentials) is None:
        user, colon, _ = credentials.partition(":")
        return f"{prefix}{user}{':***' if colon else ''}@{after}"
    return f"{prefix}***@{after}"


#: The characters that end a URL's authority (its user, password, host and port).
_AUTHORITY_END = re.compile(r"[/?#]")
_PORT = re.compile(r"[0-9]*")


def _masked_port(rest: str) -> str:
    """``rest`` (a URL after ``://``, with no ``@``) masked from a port that is
    no number on: ``saga:s3cr3t/pa55`` may be what is left of ``user:password``."""
    end = match.start() if (match := _AUTHORITY_END.search(rest)) else len(rest)
    netloc = rest[:end]
    host, colon, port = netloc.rpartition(":")
    if not colon or netloc.endswith("]") or _PORT.fullmatch(port):
        return rest
    return f"{host}:***"


def _url_password(url: str) -> bool:
    """Whether ``url`` may carry a password: a ``:`` before its last ``@``."""
    rest = url.partition("://")[2]
    return ":" in rest.rpartition("@")[0]


def _url_port_problem(url: str) -> str | None:
    """What keeps ``url``'s host and port from being read, in words that quote
    none of it (urllib's errors quote the URL, a password included)."""
    from urllib.parse import urlsplit

    if _AUTHORITY_END.search(url.partition("://")[2].rpartition("@")[0]):
        return (
            "its user name or password holds /, ? or #, which end a URL's host: "
            "write them percent-encoded (%2F, %3F, %23)"
        )
    try:
        port = urlsplit(url).port
    except ValueError as exc:
        if "IPv6" in str(exc):
            return "its host is not a valid IPv6 address in brackets"
        return "its port is not a number from 1 to 65535"
    return None if port is None or port > 0 else "its port must not be 0"


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


saga_settings = SagaSettings()
