"""The example shop's demo, as a newcomer runs it: every scenario ends as expected."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_the_demo_runs_every_pattern_and_ends_consistent(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "saga_demo", "--sagas", "14", "--transport", "memory"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # Parallel stage, skip, webhook-confirmed payment, and their failures.
    assert "gift_wrap=skipped" in out and "gift_wrap=completed" in out
    assert "validate_address=failed (AddressNotFound" in out
    assert "request_payment=failed (declined" in out
    # Past the payment's capture (the pivot) nothing is undone: an island order
    # halts and the demo repairs it with retry_step.
    island = next(line for line in out.splitlines() if line.startswith("island: halted, repaired:"))
    assert " completed: " in island and "ship_order=completed" in island
    assert "repaired by retry_step: 2 order(s)" in out
    # Each order and its saga commit together, the order number as the key: the
    # provider answers by it, and starting an order's saga again returns it.
    assert "webhook calls, answered by order number" in out
    assert "saga again, with its key: got the same saga" in out
    assert "consistent" in out and "INCONSISTENT" not in out
    assert "Payments: charged exactly for the completed orders" in out
    assert "webhook calls" in out
