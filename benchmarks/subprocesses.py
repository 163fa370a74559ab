"""Waiting for a worker subprocess to be ready, and stopping it gracefully.

Engines and Celery workers are started and stopped the same way, so that
neither side's figures include a different start-up or shutdown.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def wait_for_log(process: subprocess.Popen, log: Path, needle: bytes, timeout: float) -> None:
    """Wait until ``log`` contains ``needle``; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while needle not in log.read_bytes():
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}: see {log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.args[:4]} not ready after {timeout:.0f}s: see {log}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen, timeout: float = 60.0) -> int:
    """SIGTERM (a graceful stop) and wait; SIGKILL if it takes longer than ``timeout``."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
