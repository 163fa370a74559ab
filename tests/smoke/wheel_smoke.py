"""Smoke test of a built wheel, run by ``./run test`` in a fresh virtualenv.

It imports django-saga from the installed wheel (not this checkout), migrates
a throwaway SQLite database, and runs one saga that fails and is
compensated through the in-process transport: the package carries its
migrations and templates and works on its own.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        SECRET_KEY="smoke",
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_saga",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                # A file: the engine's threads must see the same database.
                "NAME": str(Path(tempfile.mkdtemp()) / "smoke.sqlite3"),
                "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
            }
        },
        TEMPLATES=[
            {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
        ],
        SAGA={"BROKER_URL": "memory://smoke", "RETRY_BACKOFF": 0.01},
    )
    django.setup()

    import django_saga

    source = Path(django_saga.__file__).resolve()
    assert "site-packages" in source.parts, f"django_saga came from {source}, not the wheel"

    from django.core.management import call_command
    from django.template.loader import get_template

    call_command("migrate", verbosity=0)
    get_template("django_saga/saga_detail.html")  # templates are in the wheel
    assert (source.parent / "py.typed").exists()

    from django_saga import Step, compensation_handler, manager, step_handler

    undone: list[str] = []

    @step_handler("smoke.do")
    def do(saga, step):
        return {"did": step.name}

    @step_handler("smoke.fail")
    def fail(saga, step):
        raise ValueError("declined")

    @compensation_handler("smoke.undo")
    def undo(saga, step):
        undone.append(step.name)

    import threading
    import time

    saga = manager.start(
        "smoke", [Step("a", "smoke.do", "smoke.undo"), Step("b", "smoke.fail")], {"n": 1}
    )
    engine = threading.Thread(target=manager.run, daemon=True)
    engine.start()
    deadline = time.monotonic() + 30
    while manager.get(saga.id).is_active() and time.monotonic() < deadline:
        time.sleep(0.05)
    manager.close()
    final = manager.get(saga.id)
    assert final.state == "compensated", final.state
    assert undone == ["a"], undone
    print(f"wheel smoke test passed: django-saga from {source.parent}, saga {final.state}")


if __name__ == "__main__":
    sys.exit(main())
