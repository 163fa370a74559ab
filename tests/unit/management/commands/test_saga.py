"""``manage.py saga`` as a shell runs it: a refusal is a sentence and an exit status."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from tests.conftest import ROOT
from tests.unit.console.helpers import build_saga
from tests.unit.management.operator_cli.helpers import REASON


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m django saga ARGS`` in a subprocess, on the test database."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["SAGA_TEST_USE_TEST_DB"] = django_settings.DATABASES["default"]["NAME"]
    return subprocess.run(
        [sys.executable, "-m", "django", "saga", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_refusal_exits_non_zero_with_the_sentence():
    done = build_saga("compensated")
    result = run_cli("compensate", done.pk, *REASON)
    assert result.returncode == 1
    assert result.stderr.strip() == f"CommandError: Saga {done.pk} is already compensated."
    assert result.stdout == ""
    without_reason = run_cli("compensate", done.pk)
    assert without_reason.returncode == 2
    assert "the following arguments are required: --reason" in without_reason.stderr
    shown = run_cli("show", done.pk)
    assert shown.returncode == 0 and shown.stdout.startswith(f"Saga {done.pk} (order)")
