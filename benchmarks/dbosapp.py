"""The DBOS baseline's worker: a workflow of k steps, each the same one ORM write as a saga step.

``dbosrun.py`` starts it as ``python -m benchmarks.dbosapp`` and hands it,
through the environment, DBOS's system database (``SAGA_BENCH_DBOS_URL``), the
application and queue names and the tuning (``SAGA_BENCH_DBOS_*``). It
launches DBOS, registers the queue, prints ``READY`` and consumes the queue
until SIGTERM. In the in-process flavour (``SAGA_BENCH_DBOS_SAGAS`` > 0) it
registers no queue: when a line arrives on stdin it starts the workflows
itself with ``DBOS.start_workflow``, paced as the benchmark paces starts, and
writes how the starting went to ``SAGA_BENCH_DBOS_STARTS``.

Each step returns ``time.time()`` after its write committed, and the workflow
passes it to the next step as ``prev_done`` (the first step gets the time the
workflow was enqueued or started): the hand-off latency is the next step's
start minus that, DBOS's own bookkeeping of the step included.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from dbos import DBOS, DBOSConfig

from .chain_rows import write_row

WORKFLOW = "bench_saga"
READY = b"dbos worker ready"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")


@DBOS.step()
def write(run: str, key: str, position: int, prev_done: float) -> float:
    return write_row("dbos", run, key, position, prev_done)


@DBOS.workflow(name=WORKFLOW)
def saga(run: str, key: str, steps: int, started: float) -> None:
    done = started
    for position in range(steps):
        done = write(run, key, position, done)


def _optional(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value else None


def main() -> None:
    """Launch DBOS, serve the queue (or start the sagas), stop cleanly on SIGTERM."""
    import django

    django.setup()
    env = os.environ
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = int(env["SAGA_BENCH_DBOS_THREADS"])
    config: DBOSConfig = {
        "name": env["SAGA_BENCH_DBOS_APP"],
        "system_database_url": env["SAGA_BENCH_DBOS_URL"],
        "max_executor_threads": threads,
        # One connection for each thread that may run a step, and some for DBOS's own.
        "sys_db_pool_size": threads + 4,
    }
    DBOS(config=config)
    DBOS.launch()
    sagas = int(env.get("SAGA_BENCH_DBOS_SAGAS", "0"))
    if not sagas:
        DBOS.register_queue(
            env["SAGA_BENCH_DBOS_QUEUE"],
            worker_concurrency=_optional("SAGA_BENCH_DBOS_WORKER_CONCURRENCY"),
            global_concurrency=_optional("SAGA_BENCH_DBOS_CONCURRENCY"),
            polling_interval_sec=float(env["SAGA_BENCH_DBOS_POLLING"]),
        )
    sys.stdout.write(READY.decode() + "\n")
    sys.stdout.flush()
    # "go" once the benchmark watches this process; end of file if it gave up first.
    if sagas and sys.stdin.readline().strip() == "go":
        _start_all(sagas, Path(env["SAGA_BENCH_DBOS_STARTS"]))
    stop.wait()
    DBOS.destroy()


def _start_all(sagas: int, report: Path) -> None:
    """Start the workflows in this process, as the benchmark's Pacer would, and report."""
    from .pacing import Pacer

    env = os.environ
    run, steps = env["SAGA_BENCH_DBOS_RUN"], int(env["SAGA_BENCH_DBOS_STEPS"])
    rate = float(env["SAGA_BENCH_DBOS_RATE"]) or None

    def start(i: int) -> None:
        DBOS.start_workflow(saga, run, str(i), steps, time.time())

    pacer = Pacer(sagas, rate, start, int(env["SAGA_BENCH_DBOS_STARTERS"]))
    pacer.start()
    pacer.join()
    figures = {
        "started": pacer.started,
        "first": pacer.first,
        "last": pacer.last,
        "durations": pacer.durations,
        "errors": pacer.errors[:10],
    }
    partial = report.with_suffix(".part")
    partial.write_text(json.dumps(figures))
    partial.replace(report)  # whole or not at all: the benchmark polls for it


if __name__ == "__main__":
    main()
