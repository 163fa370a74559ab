"""Settings of the example shop, read from the environment (or a .env file).

DATABASE_URL      default sqlite:///example.sqlite3 beside manage.py;
                  e.g. postgres://postgres@127.0.0.1:5432/django_saga_demo
SAGA_BROKER_URL   default amqp://guest:guest@localhost:5672/%2F
SAGA_BROKER_PASSWORD  the broker password, if SAGA_BROKER_URL leaves it out (keeps it
                      off DEBUG error pages, which show URLs but hide passwords)
SAGA_BROKER_PREFIX  first part of the shop's exchange and queue names (default
                    example_shop: example_shop.steps, ...)
SHOP_PAYMENT_LIMIT  payments above this amount are declined (default 500)
SHOP_PAYMENT_TIMEOUT  seconds a payment may wait for the provider (default 300)
SHOP_PAYMENT_CONCURRENCY  calls to the payment provider at once, every engine together (default 4)
SHOP_PAYMENT_RATE     calls to the payment provider a second, a minute or an hour (default 50/s)
SHOP_REMINDER_AFTER   seconds after shipping that the "on its way" reminder is sent
                      (default 86400: a day)
SHOP_PARCEL_UNITS     the most units one parcel holds (default 2): each parcel is a child saga
SHOP_REPORT_CRON      when the stock report runs (default "0 2 * * *": nightly at 02:00)
SHOP_TIME_ZONE        the time zone the report's cron is read in (default Europe/Berlin)
SHOP_REFUND_APPROVAL_ABOVE  refunds above this amount wait for a refund manager (default 500)
SHOP_REFUND_APPROVAL_HOURS  hours before an unanswered refund goes to the directors (default 4)
SHOP_ADDRESS_CONFIRM_HOURS  hours a clerk has to confirm a known customer's new address
                            (default 8); then the order is cancelled
SAGA_WEBHOOK_SECRET   the step-result webhook's HMAC secret (a demo value by default:
                      set your own anywhere but on your machine)
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("SECRET_KEY", default="django-saga-example-not-secret")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_saga",
    "example_project.shop.apps.ShopConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'example.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # One writer at a time, taken at BEGIN: engine threads queue up instead
    # of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = None

# The shop's exchanges and queues have names of its own, not django-saga's
# defaults (saga.*): the demo never shares a queue with another project on the
# same broker and vhost, and can delete what it declared when it ends.
broker_prefix = env("SAGA_BROKER_PREFIX", default="example_shop")
SAGA = {
    "BROKER_URL": env("SAGA_BROKER_URL", default="amqp://guest:guest@localhost:5672/%2F"),
    "BROKER_PASSWORD": env("SAGA_BROKER_PASSWORD", default=""),
    "EXCHANGE": f"{broker_prefix}.sagas",
    "STEP_QUEUE": f"{broker_prefix}.steps",
    "COMPENSATE_QUEUE": f"{broker_prefix}.compensate",
    "PRIORITY_QUEUE": f"{broker_prefix}.urgent",
    "DEAD_LETTER_EXCHANGE": f"{broker_prefix}.dlx",
    "DEAD_LETTER_QUEUE": f"{broker_prefix}.dead",
    "CONCURRENCY": env.int("SAGA_CONCURRENCY", default=4),
    "RELAY_INTERVAL": 0.1,
    "WEBHOOK_SECRET": env(
        "SAGA_WEBHOOK_SECRET", default="example-shop-demo-secret-not-for-production"
    ),
}
SHOP_PAYMENT_LIMIT = env.int("SHOP_PAYMENT_LIMIT", default=500)
SHOP_PAYMENT_TIMEOUT = env.float("SHOP_PAYMENT_TIMEOUT", default=300.0)
SHOP_PAYMENT_CONCURRENCY = env.int("SHOP_PAYMENT_CONCURRENCY", default=4)
SHOP_PAYMENT_RATE = env("SHOP_PAYMENT_RATE", default="50/s") or None
SHOP_REMINDER_AFTER = env.float("SHOP_REMINDER_AFTER", default=86400.0)
SHOP_PARCEL_UNITS = env.int("SHOP_PARCEL_UNITS", default=2)
SHOP_REPORT_CRON = env("SHOP_REPORT_CRON", default="0 2 * * *")
SHOP_TIME_ZONE = env("SHOP_TIME_ZONE", default="Europe/Berlin")
SHOP_REFUND_APPROVAL_ABOVE = env.int("SHOP_REFUND_APPROVAL_ABOVE", default=500)
SHOP_REFUND_APPROVAL_HOURS = env.float("SHOP_REFUND_APPROVAL_HOURS", default=4.0)
SHOP_ADDRESS_CONFIRM_HOURS = env.float("SHOP_ADDRESS_CONFIRM_HOURS", default=8.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"django_saga": {"handlers": ["console"], "level": "INFO"}},
}
