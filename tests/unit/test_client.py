"""The client API a web process imports loads no engine."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

ENGINE_MODULES = (
    "django_saga.engine",
    "django_saga.relay",
    "django_saga.sweeper",
    "django_saga.processor",
    "django_saga.transports",
    "pika",
)


def test_a_web_process_importing_the_manager_the_console_and_the_admin_loads_no_engine():
    script = (
        "import sys, django; django.setup()\n"
        "import django_saga.api, django_saga.urls, django_saga.admin, django_saga.webhook\n"
        f"print(','.join(m for m in {ENGINE_MODULES!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == ""
