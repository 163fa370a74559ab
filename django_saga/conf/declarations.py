"""Every setting of ``SAGA``, declared once: its default, its type and bounds,
whether it is a secret, and the sentence that documents it.

The defaults, the system check, the masking of secrets and the settings
reference of the documentation all come from ``SETTINGS``; a new setting is
one more ``Setting(...)`` here and nothing else.
"""

from __future__ import annotations

from typing import Any

from . import rules
from .setting import Setting

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
#: The most items of one map stage: ``models.step.MAP_ITEMS_MAX``, the room a
#: map's items have among the positions of its saga's steps.
MAP_ITEMS_CEILING = 1_000_000
#: The most ``CHILD_MAX_DEPTH`` may allow.
CHILD_DEPTH_CEILING = 100

#: A number of seconds, or of anything: int or float.
_NUMBER = (int, float)

SETTINGS: tuple[Setting, ...] = (
    # -- the broker ---------------------------------------------------------------
    Setting(
        "BROKER_URL", "amqp://guest:guest@localhost:5672/%2F", (str, list, tuple),
        "RabbitMQ URL (`amqp://`, `amqps://`), or `memory://NAME` for the in-process "
        "transport (tests, demos: one process only); the nodes of a cluster as a list of "
        "URLs, or one string of URLs separated by spaces, tried in order at every "
        "(re)connection",
        nonempty=True, rule=rules.broker_url,
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
    Setting("PRIORITY_QUEUE", "saga.urgent", str,
            "queue, and routing key, of every message of a high-priority saga: "
            "engines take its messages first", nonempty=True),
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
        rule=rules.database_alias,
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
            positive=True, most=100 * 366 * 24 * 3600, rule=rules.finite),
    Setting("AUDIT_RETENTION", 400 * 24 * 3600, (int, float, type(None)),
            "seconds the audit trail (who did what to a saga, and why) is kept after the "
            "action, whether or not its saga was purged meanwhile (`None` keeps it for "
            "ever); an entry of a saga that still exists is never purged",
            positive=True, most=100 * 366 * 24 * 3600, rule=rules.finite),
    Setting("PURGE_IN_ENGINE", True, bool,
            "engines purge sagas older than `HISTORY_RETENTION` as they sweep, a second "
            "at a time; `False` leaves it to `manage.py saga_purge` (from cron, say)"),
    Setting("SHUTDOWN_GRACE", 30.0, _NUMBER, "seconds SIGTERM gives in-flight steps",
            span=True),
    Setting("SWEEP_INTERVAL", 5.0, _NUMBER,
            "seconds between sweeps for timeouts, deadlines and stale sagas",
            positive=True, span=True),
    Setting("SCHEDULES", True, bool,
            "whether `saga_engine` runs schedules: it makes the rows of the schedules "
            "the apps' `sagas.py` declare when it starts, and starts their sagas when due "
            "(every engine may: each tick runs once)"),
    Setting("SCHEDULE_LATE_AFTER", 60.0, _NUMBER,
            "seconds after its time a schedule's tick found by no engine counts as missed "
            "(its schedule's `missed` policy decides whether it runs) and, if it runs, "
            "as late in the metrics; ticks found sooner all run",
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
            rule=rules.exception_paths),
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
    Setting("MAP_MAX_ITEMS", 10_000, int,
            "the most items one map stage may make (a longer list fails the map's step "
            "with an error that says so); at most 1,000,000", positive=True,
            most=MAP_ITEMS_CEILING,
            why="each item is a step row, and a map's items take positions of their own "
                "(``SagaStep.item_index``)"),
    Setting("CHILD_MAX_DEPTH", 5, int,
            "how deep child sagas may nest (a saga started by ``start()`` is at depth 0; a "
            "child step that would start one deeper fails, saying so); at most 100",
            positive=True, most=CHILD_DEPTH_CEILING,
            why="a definition whose child is itself would otherwise start sagas for ever"),
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
        rule=rules.database_alias,
    ),
    Setting("CONSOLE_REFRESH", 5, _NUMBER,
            "seconds between reloads of an active saga's page (0: never)", span=True),
    Setting("METRICS_TOKEN", "", str,
            "a bearer token that opens the metrics view, and the engine's metrics port, "
            "to a scraper; when set, at least 16 characters and no spaces", secret=True,
            min_chars=METRICS_TOKEN_MIN_CHARS, rule=rules.token,
            why="anyone who reaches the port may guess it, one request a guess: 16 random "
                "characters are out of reach"),
    Setting("WEBHOOK_SECRET", "", (str, list, tuple),
            "HMAC secret of the step-result webhook (a list while rotating); `\"\"` turns "
            "the webhook off; each secret at least 32 characters "
            "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)",
            secret=True, rule=rules.secret_list, min_chars=WEBHOOK_SECRET_MIN_CHARS,
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
