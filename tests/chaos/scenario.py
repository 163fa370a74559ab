"""The chaos scenario: many sagas, engine subprocesses, and faults while they run.

``Scenario(config, broker).run()`` needs a configured Django process whose
default database is PostgreSQL with the ``chaos`` app migrated, and the
RabbitMQ names in ``broker`` (the keys of ``SAGA``: ``BROKER_URL``,
``EXCHANGE``, ``STEP_QUEUE``, ``COMPENSATE_QUEUE``, ``DEAD_LETTER_EXCHANGE``,
``DEAD_LETTER_QUEUE``), used by nobody else. It:

1. starts ``config.engines`` ``saga_engine`` subprocesses on that database,
   each with its own PostgreSQL ``application_name``, and a supervisor that
   restarts any engine that exits (as systemd or Kubernetes would);
2. starts ``config.sagas`` sagas, spread over the start window, in nine
   kinds (``plans``): all steps succeed; some steps fail transiently, then succeed; one
   step fails for good (compensated); one step fails for good and some
   compensations fail transiently first (compensated); a parallel stage;
   *forward*: steps that can be undone, a pivot, then steps that may only go
   forward, some failing transiently, and in two sagas of three one whose
   downstream is down so long that the saga halts past its pivot; *map*: a
   map stage over a list an earlier step returned, then a step that may fail;
   *child*: a map of child sagas, a child step, then a step that may fail;
   *keyed*: sagas sharing a few business keys, started with
   ``if_active="queue"``, whose steps run one at a time per key;
3. meanwhile, at seeded random moments: SIGKILLs a random engine while
   another is alive, restarts RabbitMQ once (``rabbitmqctl stop_app`` /
   ``start_app``), terminates the engines' PostgreSQL connections, publishes
   one step's message 2-5 times back to back, and publishes poison messages;
4. waits (bounded) until no saga is active; repairs the halted sagas as an
   operator would, by ``retry_step`` with corrected input (two operators
   asking at once) or by a paced re-drive, while an engine is SIGKILLed;
   waits again;
5. stops the engines and checks the effect ledger, the sagas' final states
   (and their children's: one per child step, ending as their parent),
   that nothing was undone past a pivot, that sagas of a key ran one after
   another in start order with no two runs of a key at once (``keyed``),
   and the dead-letter queue.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
from django.conf import settings
from django.db import connection, connections

from django_saga import manager
from django_saga.errors import InvalidStateTransition
from django_saga.messages import COMPENSATE, EXECUTE, StepMessage
from django_saga.models import CHILD_ACTION, MAP_ACTION, Saga, SagaStep
from tests import rabbitmq_cluster

from .keyed import Run, check_keyed
from .models import Effect
from .plans import (
    CHILD,
    COMPENSATED,
    COMPLETED,
    FORWARD,
    KEYED,
    KINDS,
    REDRIVE,
    REDRIVE_SECONDS,
    RETRY_STEP,
    SagaPlan,
    plan_sagas,
)

ROOT = Path(__file__).resolve().parents[2]

TERMINAL = (COMPLETED, COMPENSATED)
ACTIVE = ("started", "compensating", "queued")
#: Step statuses that mean the step's action committed once.
DID_RUN = ("completed", "compensating", "compensated", "compensation_failed")
#: Step statuses that mean its compensation was sent.
UNDONE = ("compensating", "compensated", "compensation_failed")
HALTED = "halted"


BROKER_KEYS = (
    "BROKER_URL",
    "EXCHANGE",
    "STEP_QUEUE",
    "COMPENSATE_QUEUE",
    "PRIORITY_QUEUE",
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE",
)


@dataclass
class ChaosConfig:
    """What to run and which faults to inject. ``None`` counts scale with ``sagas``."""

    sagas: int = 40
    engines: int = 2
    seed: int = 1
    concurrency: int = 4
    kills: int | None = None
    broker_restart: bool = True
    db_kills: int | None = None
    duplicates: int | None = None
    poison: int | None = None
    #: Seconds over which the sagas are started and the faults spread.
    start_window: float | None = None
    #: Seconds the broker stays stopped.
    broker_down: float = 3.0
    #: Seconds to wait, after the last start and fault, for every saga to end.
    timeout: float = 120.0
    log_dir: Path | None = None
    #: The kinds of saga to run, in turn.
    kinds: tuple[str, ...] = KINDS
    #: Sagas a second the halted sagas are re-driven at (None: over REDRIVE_SECONDS).
    redrive_rate: float | None = None
    #: Engine SIGKILLs while halted sagas are repaired.
    repair_kills: int = 1
    #: Run on the three-node cluster of ``scripts/rabbitmq-cluster`` (``broker``'s
    #: URL lists its nodes): engines spread over the nodes, and instead of the
    #: broker restart, the node leading the step queue stops, then another, then
    #: both start again.
    cluster: bool = False
    #: The port of a PgBouncer (transaction pooling, ``scripts/pgbouncer``) the
    #: engines reach PostgreSQL through; their relays LISTEN on a direct
    #: connection (``LISTEN_DATABASE``), as a pooler cannot pass NOTIFY.
    pgbouncer: int | None = None

    def __post_init__(self) -> None:
        n = self.sagas
        if self.kills is None:
            self.kills = max(3, n // 150)
        if self.db_kills is None:
            self.db_kills = max(2, n // 400)
        if self.duplicates is None:
            self.duplicates = max(4, n // 50)
        if self.poison is None:
            self.poison = max(3, n // 200)
        if self.start_window is None:
            self.start_window = max(20.0, n * 0.05)
        if n < 1 or self.engines < 1:
            raise ValueError("a chaos run needs at least one saga and one engine")
        unknown = [kind for kind in self.kinds if kind not in KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"kinds must be some of {', '.join(KINDS)}, got {self.kinds!r}")


# -- engines ------------------------------------------------------------------
class EngineSlot:
    """One ``saga_engine`` subprocess, restarted into the same slot when it dies.

    Every incarnation appends to the slot's log file and uses the slot's
    PostgreSQL ``application_name``.
    """

    def __init__(
        self,
        index: int,
        app_name: str,
        database: str,
        overrides: dict[str, Any],
        log_path: Path,
        concurrency: int,
        trace_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.index = index
        self.app_name = app_name
        self.database = database
        self.overrides = overrides
        self.log_path = log_path
        self.concurrency = concurrency
        self.trace_path = trace_path
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_at = 0.0
        self.restart_after = 0.0
        self.exit_seen = False
        self._ready = False
        self._log = log_path.open("ab")
        self._log_offset = 0

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["SAGA_TEST_DB"] = "postgres"
        env["SAGA_TEST_USE_TEST_DB"] = self.database
        env["SAGA_TEST_OVERRIDES"] = repr(self.overrides)
        env["SAGA_TEST_APP_NAME"] = self.app_name
        env["SAGA_CHAOS_TRACE"] = str(self.trace_path)
        env.update(self.env)
        self._log.write(f"==== chaos: start #{self.starts + 1} of engine {self.index}\n".encode())
        self._log.flush()
        self._log_offset = self._log.tell()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "saga_engine",
                "--settings",
                "tests.settings",
                "--concurrency",
                str(self.concurrency),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self.starts += 1
        self.started_at = time.monotonic()
        self.exit_seen = False
        self._ready = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        """Whether this incarnation has logged that it is consuming."""
        if not self._ready:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                self._ready = b"consuming" in log.read()
        return self._ready

    def kill(self, restart_after: float) -> None:
        """SIGKILL; the supervisor restarts the slot ``restart_after`` seconds later."""
        assert self.process is not None
        self.exit_seen = True
        self.restart_after = time.monotonic() + restart_after
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not stop in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return code

    def close(self) -> None:
        self._log.close()


class Supervisor(threading.Thread):
    """Restarts engines that exited: at once after a crash, later after a kill."""

    def __init__(self, slots: list[EngineSlot], note: Callable[[str], None]) -> None:
        super().__init__(name="chaos-supervisor", daemon=True)
        self.slots = slots
        self.note = note
        self.lock = threading.Lock()
        self.exits: Counter[int] = Counter()
        self.restarts = 0
        self.errors: list[str] = []
        self._stop_event = threading.Event()
        self._quick_exits = {slot.index: 0 for slot in slots}

    def run(self) -> None:
        try:
            while not self._stop_event.wait(0.1):
                with self.lock:
                    for slot in self.slots:
                        self._tend(slot)
        except Exception as exc:  # reported in the result
            self.errors.append(f"supervisor: {exc!r}")

    def _tend(self, slot: EngineSlot) -> None:
        if slot.process is None or slot.alive:
            return
        now = time.monotonic()
        if not slot.exit_seen:
            # A crash: count it once, then back off if it keeps dying at start.
            slot.exit_seen = True
            code = slot.process.returncode
            self.exits[code] += 1
            self.note(f"engine {slot.index} exited with status {code}")
            quick = now - slot.started_at < 5
            self._quick_exits[slot.index] = self._quick_exits[slot.index] + 1 if quick else 0
            slot.restart_after = now + min(0.25 * 2 ** self._quick_exits[slot.index], 4.0)
        if now >= slot.restart_after:
            slot.start()
            self.restarts += 1
            self.note(f"engine {slot.index} restarted (start #{slot.starts})")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


# -- the broker ---------------------------------------------------------------
class Broker:
    """Direct pika access to the scenario's queues, and the broker restart."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names

    @contextmanager
    def channel(self) -> Iterator[Any]:
        """A channel on the first node that answers (of a cluster's, in order)."""
        urls = self.names["BROKER_URL"]
        urls = [urls] if isinstance(urls, str) else list(urls)
        parameters = [pika.URLParameters(url) for url in urls]
        for parameter in parameters:
            parameter.connection_attempts = 1
        connection = pika.BlockingConnection(parameters)
        try:
            yield connection.channel()
        finally:
            if connection.is_open:
                connection.close()

    def publish(self, queue: str, bodies: list[bytes]) -> None:
        """Publish persistently to ``queue`` through the default exchange."""
        with self.channel() as channel:
            channel.confirm_delivery()
            for body in bodies:
                channel.basic_publish(
                    "", queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True
                )

    def depth(self, queue: str) -> int:
        with self.channel() as channel:
            return int(channel.queue_declare(queue, passive=True).method.message_count)

    def drain(self, queue: str) -> list[tuple[bytes, dict[str, Any]]]:
        """Take every message off ``queue``: (body, headers) pairs."""
        found = []
        with self.channel() as channel:
            while True:
                method, properties, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    return found
                found.append((body, properties.headers or {}))

    def restart(self, down: float) -> None:
        """Stop the RabbitMQ application, wait ``down`` seconds, start it again."""
        _rabbitmqctl("stop_app")
        time.sleep(down)
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")

    def delete_topology(self) -> None:
        """Delete the scenario's queues and exchanges (best effort)."""
        try:
            with self.channel() as channel:
                for key in (
                    "STEP_QUEUE",
                    "COMPENSATE_QUEUE",
                    "PRIORITY_QUEUE",
                    "DEAD_LETTER_QUEUE",
                ):
                    channel.queue_delete(self.names[key])
                for key in ("EXCHANGE", "DEAD_LETTER_EXCHANGE"):
                    channel.exchange_delete(self.names[key])
        except pika.exceptions.AMQPError:
            pass


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def broker_names(prefix: str, url: str | list[str]) -> dict[str, Any]:
    """A ``SAGA`` fragment with queue and exchange names that start with ``prefix``."""
    return {
        "BROKER_URL": url,
        "EXCHANGE": f"{prefix}.sagas",
        "STEP_QUEUE": f"{prefix}.steps",
        "COMPENSATE_QUEUE": f"{prefix}.compensate",
        "PRIORITY_QUEUE": f"{prefix}.urgent",
        "DEAD_LETTER_EXCHANGE": f"{prefix}.dlx",
        "DEAD_LETTER_QUEUE": f"{prefix}.dead",
    }


# -- the result ---------------------------------------------------------------
@dataclass
class ChaosResult:
    """What a run did and what its checks found."""

    sagas: int
    faults: Counter[str]
    lost: int
    duplicated_effects: int
    phantom_effects: int
    stuck: int
    wrong_outcome: int
    dead_letters: int
    dead_letters_expected: int
    dead_letters_exact: bool
    engine_exits: Counter[int]
    engine_restarts: int
    elapsed: float
    states: Counter[str]
    failed_starts: int = 0
    duplicate_copies: int = 0
    db_connections_terminated: int = 0
    timeline: list[str] = field(default_factory=list)
    #: Handler calls, and calls that repeated an attempt whose first run a fault undid.
    handler_calls: int = 0
    handler_reruns: int = 0
    problems: list[str] = field(default_factory=list)
    log_dir: str = ""
    #: Steps of sagas past their pivot whose compensation was sent or ran.
    undone_past_pivot: int = 0
    #: The checks' counts by kind of saga (``sagas`` too).
    kinds: dict[str, Counter[str]] = field(default_factory=dict)
    #: Sagas ``halted`` before the repairs, and what repaired them: ``retry_step``
    #: (its racing second ask ``refused``), ``redrive``; ``errors`` of repairs.
    repairs: Counter[str] = field(default_factory=Counter)
    redrive_rate: float = 0.0
    #: Where it ran, when not on one broker node and PostgreSQL directly.
    setup: str = ""
    #: Keyed sagas: runs of a key that overlapped; sagas of a key run out of start order.
    overlapping: int = 0
    out_of_order: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated_effects == 0
            and self.phantom_effects == 0
            and self.stuck == 0
            and self.wrong_outcome == 0
            and self.undone_past_pivot == 0
            and self.overlapping == 0
            and self.out_of_order == 0
            and self.repairs["errors"] == 0
            and self.dead_letters_exact
            and self.failed_starts == 0
            and not any(p.startswith("harness:") for p in self.problems)
        )

    def summary(self) -> str:
        """One line: the invariants first, then how the run went; then the
        forward kind's own, if the run had it."""
        exits = sum(self.engine_exits.values())
        line = (
            f"sagas={self.sagas} faults={sum(self.faults.values())} lost={self.lost} "
            f"duplicated_effects={self.duplicated_effects} stuck={self.stuck} "
            f"dead_letters={self.dead_letters}/{self.dead_letters_expected} "
            f"phantom_effects={self.phantom_effects} wrong_outcome={self.wrong_outcome} "
            f"engine_exits={exits} elapsed={self.elapsed:.1f}s"
        )
        if self.setup:
            line += f" setup={self.setup}"
        if FORWARD in self.kinds:
            line += f" [{self.forward_summary()}]"
        if CHILD in self.kinds:
            counts = self.kinds[CHILD]
            line += f" [child: sagas={counts['sagas']} children={counts['children']}]"
        if KEYED in self.kinds:
            counts = self.kinds[KEYED]
            line += (
                f" [keyed: sagas={counts['sagas']} keys={counts['keys']} "
                f"queued={counts['queued']} overlapping={counts['overlapping']} "
                f"out_of_order={counts['out_of_order']}]"
            )
        return line

    def forward_summary(self) -> str:
        """The forward kind: its invariants, then how many sagas halted and were repaired."""
        counts = self.kinds.get(FORWARD, Counter())
        repaired = self.repairs[RETRY_STEP] + self.repairs[REDRIVE]
        return (
            f"forward: sagas={counts['sagas']} lost={counts['lost']} "
            f"duplicated_effects={counts['duplicated_effects']} stuck={counts['stuck']} "
            f"undone_past_pivot={counts['undone_past_pivot']} "
            f"wrong_outcome={counts['wrong_outcome']} halted={self.repairs['halted']} "
            f"repaired={repaired}"
        )

    def details(self, limit: int = 20, timeline: bool = True) -> str:
        """Several lines: faults by kind and when, final states, exits, the first problems."""
        lines = [
            "faults: " + (_counts(self.faults) or "none"),
            f"duplicate copies published: {self.duplicate_copies}; database connections "
            f"terminated: {self.db_connections_terminated}; failed starts: {self.failed_starts}",
            f"handler calls: {self.handler_calls}, of which {self.handler_reruns} re-ran an "
            "attempt a fault had interrupted (rolled back, so no effect twice)",
            "final states: " + _counts(self.states),
            f"repairs past the pivot: {self.repairs['halted']} halted; "
            f"{self.repairs[RETRY_STEP]} by retry_step (asked by two operators at once: "
            f"{self.repairs['refused']} refused), {self.repairs[REDRIVE]} re-driven at "
            f"{self.redrive_rate:.3g}/s; {self.repairs['errors']} error(s)",
            f"engine restarts: {self.engine_restarts}; exits other than the injected "
            f"kills, by exit code: {_counts(self.engine_exits) or 'none'}",
            f"engine logs: {self.log_dir}",
        ]
        lines += self.problems[:limit]
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more problem(s)")
        if timeline:
            lines += ["timeline:", *(f"  {event}" for event in self.timeline)]
        return "\n".join(lines)


#: A step as the checks see it: id, status, compensation (none for a step whose
#: work is not its own), pivot, and whether its action committed once.
StepRow = tuple[str, str, str, bool, bool]


def _check_effects(
    where: str,
    rows: list[StepRow],
    effects: Counter[tuple[str, str]],
    counts: Counter[str],
    problems: list[str],
) -> None:
    """Each step's effects exactly as its status says: done once if it ran,
    undone once if it was compensated; and, once the saga's pivot ran,
    nothing of it undone."""
    past_pivot = any(pivot and status in DID_RUN for _, status, _, pivot, _ in rows)
    for step_id, status, compensation, _, ran in rows:
        step = f"step {step_id} of {where}, step {status}"
        if past_pivot and (effects[(step_id, Effect.UNDO)] or status in UNDONE):
            counts["undone_past_pivot"] += 1
            problems.append(f"undone past the pivot: {step}")
        expected = {
            Effect.DO: int(ran),
            Effect.UNDO: int(status == "compensated" and bool(compensation)),
        }
        for kind, want in expected.items():
            got = effects[(step_id, kind)]
            if got == want:
                continue
            if got < want:
                counts["lost"] += 1
                problems.append(f"lost: no {kind!r} effect for {step}")
            elif want:
                counts["duplicated_effects"] += got - want
                problems.append(f"duplicated: {got} {kind!r} effects for {step}")
            else:
                counts["phantom_effects"] += got
                problems.append(f"phantom: {got} {kind!r} effect(s) for {step}")


def _counts(counter: Counter[Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(counter.items(), key=str))


# -- the scenario -------------------------------------------------------------
class Scenario:
    """One chaos run; see the module docstring."""

    def __init__(self, config: ChaosConfig, broker: dict[str, Any]) -> None:
        missing = [key for key in BROKER_KEYS if key not in broker]
        if missing:
            raise ValueError(f"broker names lack {', '.join(missing)}")
        if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            raise RuntimeError("the chaos scenario needs PostgreSQL (SAGA_TEST_DB=postgres)")
        self.config = config
        self.names = dict(broker)
        self.broker = Broker(self.names)
        self.rng = random.Random(config.seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.log_dir = config.log_dir or Path(tempfile.mkdtemp(prefix="saga-chaos-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.trace_path = self.log_dir / "handler-calls.txt"
        self.trace_path.unlink(missing_ok=True)
        self.faults: Counter[str] = Counter()
        self.problems: list[str] = []
        self.poison_bodies: list[bytes] = []
        self.dead_letters: list[tuple[bytes, dict[str, Any]]] = []
        self.db_connections_terminated = 0
        self.duplicate_copies = 0
        self.failed_starts = 0
        self.timeline: list[str] = []
        self.started = time.monotonic()
        self.saga_ids: list[str] = []
        #: Keyed sagas started ``queued`` behind another saga of their key.
        self.queued = 0
        self.plans: dict[str, SagaPlan] = {}
        self.slots: list[EngineSlot] = []
        self.supervisor: Supervisor | None = None
        self._ids_lock = threading.Lock()
        self.repairs: Counter[str] = Counter()
        self.redrive_rate = 0.0
        #: Sagas whose plan said they would halt, and which did not.
        self.unhalted: set[str] = set()
        self._repair_lock = threading.Lock()
        #: Named in the summary: what the run ran on, beyond one node and PostgreSQL.
        self.setup = ",".join(
            part
            for part, used in (
                ("rabbitmq-cluster-3-nodes", config.cluster),
                ("quorum", broker.get("QUEUE_TYPE") == "quorum"),
                ("pgbouncer", config.pgbouncer is not None),
            )
            if used
        )

    # -- the run ----------------------------------------------------------
    def run(self) -> ChaosResult:
        config = self.config
        started = self.started = time.monotonic()
        plans = plan_sagas(self.rng, config.sagas, config.kinds)
        try:
            self._start_engines()
            starter = threading.Thread(
                target=self._start_sagas, args=(plans,), name="chaos-starter", daemon=True
            )
            starter.start()
            self._inject_faults(started)
            starter.join()
            self._note(f"{len(self.saga_ids)} saga(s) started; waiting for them to end")
            self._wait_until_settled(config.timeout)
            if any(plan.repair for plan in self.plans.values()):
                self._repair_halted()
                self._wait_until_settled(config.timeout)
        finally:
            self._stop_engines()
        elapsed = time.monotonic() - started
        return self.check(elapsed)

    def _start_engines(self) -> None:
        database = str(settings.DATABASES["default"]["NAME"])
        for index in range(self.config.engines):
            self.slots.append(
                EngineSlot(
                    index,
                    f"saga-chaos-{self.run_id}-e{index}",
                    database,
                    self._engine_names(index),
                    self.log_dir / f"engine-{index}.log",
                    self.config.concurrency,
                    self.trace_path,
                    self._engine_env(),
                )
            )
        for slot in self.slots:
            slot.start()
        # Tolerate a broker that is briefly away (another user restarting it).
        deadline = time.monotonic() + 60
        while not all(slot.ready() for slot in self.slots):
            for slot in self.slots:
                if not slot.alive and time.monotonic() - slot.started_at > 1:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"engine {slot.index} did not start: {slot.log_path}")
                    slot.start()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the engines did not start within 60s: {self.log_dir}")
            time.sleep(0.1)
        self.supervisor = Supervisor(self.slots, self._note)
        self.supervisor.start()

    def _engine_names(self, index: int) -> dict[str, Any]:
        """Engine ``index``'s broker settings: on a cluster, the nodes' URLs
        starting with node ``index`` (engines spread over the nodes, each able
        to fail over to every other)."""
        names = dict(self.names)
        if self.config.pgbouncer is not None:
            # PgBouncer 1.18 in transaction mode loses them between transactions.
            names["PREPARED_STATEMENTS"] = False
            names["LISTEN_DATABASE"] = "listen"
        if self.config.cluster:
            names["BROKER_URL"] = rabbitmq_cluster.urls_from(index)
        return names

    def _engine_env(self) -> dict[str, str]:
        if self.config.pgbouncer is None:
            return {}
        direct = str(settings.DATABASES["default"].get("PORT") or 5432)
        return {
            "SAGA_TEST_PG_PORT": str(self.config.pgbouncer),
            "SAGA_TEST_PG_LISTEN_PORT": direct,
        }

    def _stop_engines(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        for slot in self.slots:
            alive = slot.alive
            code = slot.stop()
            slot.close()
            if slot.process is not None:
                how = "stopped" if alive else "had already exited"
                self._note(f"engine {slot.index} {how} with status {code}")

    def _start_sagas(self, plans: list[SagaPlan]) -> None:
        """Start the sagas evenly over the start window (runs in its own thread)."""
        try:
            window = float(self.config.start_window or 0)
            begin = time.monotonic()
            for number, plan in enumerate(plans):
                due = begin + window * number / len(plans)
                time.sleep(max(0.0, due - time.monotonic()))
                try:
                    saga = manager.start(
                        f"chaos.{plan.kind}",
                        plan.steps,
                        {"run": self.run_id},
                        key=plan.key,
                        if_active="queue" if plan.key else "return",
                    )
                except Exception as exc:
                    self.failed_starts += 1
                    self.problems.append(f"start() of a {plan.kind} saga failed: {exc!r}")
                    continue
                with self._ids_lock:
                    self.saga_ids.append(saga.id)
                    self.plans[saga.id] = plan
                    self.queued += saga.state == "queued"
        finally:
            connections.close_all()

    def _inject_faults(self, started: float) -> None:
        """Run the seeded fault schedule, spread over the start window."""
        config = self.config
        schedule: list[Callable[[], None]] = []
        schedule += [self._kill_engine] * int(config.kills or 0)
        schedule += [self._terminate_db_connections] * int(config.db_kills or 0)
        schedule += [self._duplicate_step_message] * int(config.duplicates or 0)
        poison = int(config.poison or 0)
        bursts = [min(3, poison - n) for n in range(0, poison, 3)]
        schedule += [lambda size=size: self._publish_poison(size) for size in bursts]
        if config.broker_restart:
            schedule.append(self._stop_nodes if config.cluster else self._restart_broker)
        window = float(config.start_window or 0)
        times = sorted(self.rng.uniform(0.05, 0.95) * window for _ in schedule)
        self.rng.shuffle(schedule)
        for at, fault in zip(times, schedule, strict=True):
            time.sleep(max(0.0, started + at - time.monotonic()))
            try:
                fault()
            except Exception as exc:
                name = getattr(fault, "__name__", "poison")
                self.problems.append(f"harness: fault {name} raised {exc!r}")

    def _wait_until_settled(self, timeout: float) -> None:
        """Wait until no saga of this run is active, or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            active = Saga.objects.filter(pk__in=self.saga_ids, state__in=ACTIVE).count()
            if not active:
                self._note("no saga active")
                return
            if time.monotonic() > deadline:
                self._note(f"gave up waiting: {active} saga(s) still active")
                return
            time.sleep(0.5)

    # -- repairs past the pivot -------------------------------------------
    def _repair_halted(self) -> None:
        """Repair the sagas that halted past their pivot, as their plans say,
        while engines are SIGKILLed.

        Each ``retry_step`` (with corrected input) is asked by two operators
        at once: exactly one may win. The other sagas are re-driven in one
        batch at ``redrive_rate``, paced through the outbox.
        """
        halted = set(
            Saga.objects.filter(pk__in=self.saga_ids, state=HALTED).values_list("id", flat=True)
        )
        planned = {saga_id for saga_id, plan in self.plans.items() if plan.repair}
        self.repairs["halted"] = len(halted)
        for saga_id in sorted(halted - planned):
            self.problems.append(
                f"unplanned halt: saga {saga_id} ({self.plans[saga_id].kind}) halted"
            )
        for saga_id in sorted(planned - halted):
            self.unhalted.add(saga_id)
            state = Saga.objects.get(pk=saga_id).state
            self.problems.append(f"wrong outcome: saga {saga_id} was to halt but is {state}")
        retry = sorted(i for i in halted & planned if self.plans[i].repair == RETRY_STEP)
        redrive = sorted(i for i in halted & planned if self.plans[i].repair == REDRIVE)
        rate = self.config.redrive_rate or max(1.0, len(redrive) / REDRIVE_SECONDS)
        self.redrive_rate = rate
        self._note(
            f"repairing {len(halted)} halted saga(s): {len(retry)} by retry_step, "
            f"{len(redrive)} re-driven at {rate:.3g}/s"
        )
        workers = [
            threading.Thread(target=self._redrive, args=(redrive, rate), name="chaos-redrive"),
            threading.Thread(target=self._retry_steps, args=(retry,), name="chaos-operators"),
        ]
        for worker in workers:
            worker.start()
        # The kills land while the re-drive's messages come due, one by one.
        window = max(1.0, (len(redrive) - 1) / rate)
        began = time.monotonic()
        kills = int(self.config.repair_kills)
        for at in sorted(self.rng.uniform(0.1, 0.8) * window for _ in range(kills)):
            time.sleep(max(0.0, began + at - time.monotonic()))
            self._kill_engine()
        for worker in workers:
            worker.join()
        self._note(
            f"repaired: {self.repairs[RETRY_STEP]} by retry_step, {self.repairs[REDRIVE]} "
            f"re-driven; {self.repairs['errors']} error(s)"
        )

    def _redrive(self, saga_ids: list[str], rate: float) -> None:
        try:
            if not saga_ids:
                return
            redrive = manager.redrive(
                saga_ids, rate=rate, by="chaos", reason="chaos: the downstream is back"
            )
            with self._repair_lock:
                self.repairs[REDRIVE] += len(redrive.scheduled)
                for saga_id, why in redrive.refused:
                    self.repairs["errors"] += 1
                    self.problems.append(f"repair: the re-drive refused saga {saga_id}: {why}")
        except Exception as exc:
            self._repair_failed(f"the re-drive raised {exc!r}")
        finally:
            connections.close_all()

    def _retry_steps(self, saga_ids: list[str]) -> None:
        try:
            for saga_id in saga_ids:
                self._retry_racing(saga_id)
        finally:
            connections.close_all()

    def _retry_racing(self, saga_id: str) -> None:
        """Two operators retry the halted step at once: one wins, the other is refused."""
        plan = self.plans[saga_id]
        barrier = threading.Barrier(2)
        results: list[object] = [None, None]

        def ask(n: int) -> None:
            try:
                barrier.wait()
                results[n] = manager.retry_step(
                    saga_id,
                    plan.repair_step,
                    plan.repair_input,
                    by=f"chaos-operator-{n}",
                    reason="chaos: the downstream is fixed",
                )
            except Exception as exc:
                results[n] = exc
            finally:
                connections.close_all()

        operators = [threading.Thread(target=ask, args=(n,)) for n in range(2)]
        for operator in operators:
            operator.start()
        for operator in operators:
            operator.join()
        won = sum(isinstance(result, Saga) for result in results)
        refused = sum(isinstance(result, InvalidStateTransition) for result in results)
        with self._repair_lock:
            self.repairs[RETRY_STEP] += won
            self.repairs["refused"] += refused
        if (won, refused) != (1, 1):
            self._repair_failed(f"retry_step of saga {saga_id} twice at once: {results!r}")

    def _repair_failed(self, problem: str) -> None:
        with self._repair_lock:
            self.repairs["errors"] += 1
            self.problems.append(f"repair: {problem}")

    # -- faults -----------------------------------------------------------
    def _kill_engine(self) -> None:
        """SIGKILL a random running engine, while at least one other runs."""
        assert self.supervisor is not None
        need = 2 if len(self.slots) > 1 else 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self.supervisor.lock:
                running = [slot for slot in self.slots if slot.alive and slot.ready()]
                if len(running) >= need:
                    victim = self.rng.choice(running)
                    victim.kill(restart_after=self.rng.uniform(0.0, 2.0))
                    self._record("engine_kill", f"engine {victim.index}")
                    return
            time.sleep(0.2)
        self.problems.append("harness: no engine to kill: fewer than two were running for 30s")

    def _restart_broker(self) -> None:
        """``rabbitmqctl stop_app`` / ``start_app``: every connection drops."""
        self._note("stopping the broker")
        self.broker.restart(self.config.broker_down)
        self._record("broker_restart", f"started again after {self.config.broker_down:g}s down")

    def _stop_nodes(self) -> None:
        """On the cluster: stop the node leading the step queue, then the node
        leading it next (two of three down: no quorum, so no publish is
        confirmed and nothing is delivered), then start both again."""
        down = self.config.broker_down
        step_queue = self.names["STEP_QUEUE"]
        nodes = rabbitmq_cluster.NODES
        first = rabbitmq_cluster.leader(step_queue, asked=nodes[0])
        rabbitmq_cluster.stop_node(first)
        self._record("node_stop", f"{first}, leader of the step queue")
        time.sleep(down)
        alive = [node for node in nodes if node != first]
        try:
            second = rabbitmq_cluster.leader(step_queue, asked=alive[0])
        except (LookupError, RuntimeError):
            second = ""
        if second not in alive:  # no leader elected yet
            second = self.rng.choice(alive)
        rabbitmq_cluster.stop_node(second)
        self._record("node_stop", f"{second}, leader after it: the queues lose their quorum")
        time.sleep(down)
        for node in (first, second):
            rabbitmq_cluster.start_node(node)
            self._record("node_start", node)

    def _terminate_db_connections(self) -> None:
        """``pg_terminate_backend`` every PostgreSQL connection of every engine.

        Retried for a while if no engine has a connection open (all restarting).
        """
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
                    [f"saga-chaos-{self.run_id}-%"],
                )
                (terminated,) = cursor.fetchone()
            if terminated:
                self.db_connections_terminated += int(terminated)
                self._record("db_terminate", f"{terminated} connection(s)")
                return
            time.sleep(0.2)
        self.problems.append("harness: no engine database connection to terminate for 30s")

    def _duplicate_step_message(self) -> None:
        """Publish one step's message 2-5 more times, straight to its queue.

        Mostly the message a running step waits for (the copies race the
        original for the step's row lock); sometimes one it no longer waits
        for (stale). Built from the step's row: the engines' own hand-offs
        have no outbox row to copy.
        """
        deadline = time.monotonic() + 10
        while True:
            with self._ids_lock:
                ids = list(self.saga_ids)
            if ids or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        steps = SagaStep.objects.filter(saga_id__in=ids).order_by("-updated_at")
        fields = ("saga_id", "id", "status", "attempts", "compensation_attempts")
        running = list(
            steps.filter(status__in=("started", "compensating")).values_list(*fields)[:20]
        )
        done = list(
            steps.filter(status__in=("completed", "compensated", "failed")).values_list(*fields)[
                :20
            ]
        )
        # Mostly a message a step waits for right now, when there is one.
        live = bool(running) and (self.rng.random() < 0.75 or not done)
        if not (running or done):
            self.problems.append("harness: no step message to duplicate")
            return
        saga_id, step_id, status, attempts, undo_attempts = (
            running[0] if live else self.rng.choice(done)
        )
        # A step compensated with nothing to undo had no compensate message:
        # a copy of its first would be stale, and must read as one.
        undo = status in ("compensating", "compensated")
        kind, attempt = (COMPENSATE, max(1, undo_attempts)) if undo else (EXECUTE, max(1, attempts))
        body = StepMessage(kind, saga_id, step_id, attempt).encode()
        queue = self.names["STEP_QUEUE" if kind == EXECUTE else "COMPENSATE_QUEUE"]
        copies = self.rng.randint(2, 5)
        self.broker.publish(queue, [body.encode()] * copies)
        self._record("duplicate_burst", f"{copies} copies of {body}")
        self.duplicate_copies += copies

    def _publish_poison(self, count: int) -> None:
        """Publish messages no engine can process; wait until they are dead-lettered."""
        bodies = []
        for _ in range(count):
            n = len(self.poison_bodies) + len(bodies)
            if n % 2 == 0:
                body = f"chaos poison {self.run_id} #{n}: not JSON".encode()
            else:
                fake = f"01CHAOS{self.run_id.upper()}{n:011d}"[:26]
                body = json.dumps(
                    {"v": 1, "kind": "execute", "saga_id": fake, "step_id": fake, "attempt": 1}
                ).encode()
            bodies.append(body)
        self.broker.publish(self.names["STEP_QUEUE"], bodies)
        self.poison_bodies += bodies
        for _ in bodies:
            self._record("poison_message", "")
        # Let them reach the dead-letter queue before the next fault can interrupt.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.broker.depth(self.names["DEAD_LETTER_QUEUE"]) >= len(self.poison_bodies):
                return
            time.sleep(0.2)

    def _record(self, fault: str, detail: str) -> None:
        self.faults[fault] += 1
        self._note(f"{fault} {detail}".rstrip())

    def _note(self, event: str) -> None:
        self.timeline.append(f"{time.monotonic() - self.started:7.2f}s {event}")

    # -- checks -----------------------------------------------------------
    def _check_children(
        self,
        parent_id: str,
        plan: SagaPlan,
        found: list[tuple[str, str, str]],
        steps: dict[str, list[StepRow]],
        effects: Counter[tuple[str, str]],
        counts: Counter[str],
        problems: list[str],
    ) -> None:
        """One child saga per child step of the parent, each ending as its
        parent did (completed, or compensated: every step undone once)."""
        per_step = Counter(parent_step_id for _, parent_step_id, _ in found)
        for parent_step_id, made in per_step.items():
            if made > 1:
                counts["duplicated_effects"] += made - 1
                problems.append(f"duplicated: {made} children of step {parent_step_id}")
        if len(per_step) < plan.children:
            counts["lost"] += plan.children - len(per_step)
            problems.append(
                f"lost: saga {parent_id} started {len(per_step)} of its {plan.children} children"
            )
        for child_id, _, state in found:
            counts["children"] += 1
            where = f"child saga {child_id} of {parent_id}"
            statuses = [status for _, status, _, _, _ in steps[child_id]]
            if state not in TERMINAL:
                counts["stuck"] += 1
                problems.append(f"stuck: {where} is {state}: {statuses}")
            elif state != plan.expected_state or set(statuses) != {plan.expected_state}:
                counts["wrong_outcome"] += 1
                problems.append(
                    f"wrong outcome: {where} ended {state} with steps {statuses}; "
                    f"expected {plan.expected_state}, as its parent"
                )
            _check_effects(where, steps[child_id], effects, counts, problems)

    def _check_keyed(self, counts: Counter[str], problems: list[str]) -> None:
        """Sagas of a key one after another, in start order; no two runs of a key at once."""
        started = [(i, self.plans[i].key) for i in self.saga_ids if self.plans[i].kind == KEYED]
        runs = [
            Run(*row)
            for row in Effect.objects.filter(
                saga_id__in=[saga_id for saga_id, _ in started], began__isnull=False
            ).values_list("saga_id", "step_id", "key", "began", "ended")
        ]
        found, lines = check_keyed(started, runs)
        counts.update(found)
        counts["queued"] = self.queued
        problems += lines

    def check(self, elapsed: float = 0.0) -> ChaosResult:
        """Compare the ledger, the final states and the dead-letter queue with the
        plan, and check that nothing of a saga past its pivot was undone.

        Takes what is in the dead-letter queue off it (kept for later calls).
        """
        ids = self.saga_ids
        children = list(
            Saga.objects.filter(parent_id__in=ids).values_list(
                "id", "parent_id", "parent_step_id", "state"
            )
        )
        every = ids + [child_id for child_id, _, _, _ in children]
        sagas = dict(Saga.objects.filter(pk__in=every).values_list("id", "state"))
        steps: dict[str, list[StepRow]] = {saga_id: [] for saga_id in every}
        for saga_id, step_id, status, compensation, pivot, action in (
            SagaStep.objects.filter(saga_id__in=every)
            .order_by("saga_id", "position")
            .values_list("saga_id", "id", "status", "compensation", "pivot", "action")
        ):
            # A map's own row and a child step run no handler: their items and
            # children do the work, and undo it.
            own = action not in (MAP_ACTION, CHILD_ACTION)
            undo = compensation if own else ""
            steps[saga_id].append((step_id, status, undo, pivot, status in DID_RUN and own))
        effects = Counter(
            Effect.objects.filter(saga_id__in=every).values_list("step_id", "kind").iterator()
        )
        # The checks' counts by kind of saga; the totals are their sums.
        kinds: dict[str, Counter[str]] = {}
        problems = list(self.problems)
        children_of: dict[str, list[tuple[str, str, str]]] = {}
        for child_id, parent_id, parent_step_id, state in children:
            children_of.setdefault(parent_id, []).append((child_id, parent_step_id, state))
        for saga_id in ids:
            state = sagas.get(saga_id, "missing")
            plan = self.plans[saga_id]
            counts = kinds.setdefault(plan.kind, Counter())
            counts["sagas"] += 1
            statuses = [status for _, status, _, _, _ in steps[saga_id]]
            if state not in TERMINAL:
                counts["stuck"] += 1
                problems.append(f"stuck: saga {saga_id} ({plan.kind}) is {state}: {statuses}")
            if state in TERMINAL and (
                state != plan.expected_state
                or statuses != plan.expected_statuses
                or saga_id in self.unhalted
            ):
                counts["wrong_outcome"] += 1
                problems.append(
                    f"wrong outcome: saga {saga_id} ({plan.kind}) ended {state} "
                    f"with steps {statuses}; expected {plan.expected_state} "
                    f"with {plan.expected_statuses}"
                    + (", after halting" if saga_id in self.unhalted else "")
                )
            where = f"saga {saga_id} ({plan.kind})"
            _check_effects(where, steps[saga_id], effects, counts, problems)
            if plan.children:
                self._check_children(
                    saga_id, plan, children_of.get(saga_id, []), steps, effects, counts, problems
                )
        if KEYED in kinds:
            self._check_keyed(kinds[KEYED], problems)
        total = sum(kinds.values(), Counter())
        self.dead_letters += self.broker.drain(self.names["DEAD_LETTER_QUEUE"])
        dead = self.dead_letters
        dead_bodies = Counter(body for body, _ in dead)
        exact = dead_bodies == Counter(self.poison_bodies)
        if not exact:
            unexpected = dead_bodies - Counter(self.poison_bodies)
            missing = Counter(self.poison_bodies) - dead_bodies
            problems.append(
                f"dead letters: unexpected {sorted(unexpected.elements())[:5]}, "
                f"missing {sorted(missing.elements())[:5]}"
            )
        for body, headers in dead:
            if "x-saga-error" not in headers:
                problems.append(f"dead letter without an x-saga-error header: {body[:80]!r}")
        calls: Counter[str] = Counter()
        if self.trace_path.exists():
            calls.update(self.trace_path.read_text().splitlines())
        reruns = sum(count - 1 for count in calls.values())
        supervisor = self.supervisor
        if supervisor is not None:
            problems += [f"harness: {error}" for error in supervisor.errors]
        return ChaosResult(
            sagas=len(ids),
            faults=Counter({k: v for k, v in self.faults.items() if v}),
            lost=total["lost"],
            duplicated_effects=total["duplicated_effects"],
            phantom_effects=total["phantom_effects"],
            stuck=total["stuck"],
            wrong_outcome=total["wrong_outcome"],
            dead_letters=len(dead),
            dead_letters_expected=len(self.poison_bodies),
            dead_letters_exact=exact,
            engine_exits=supervisor.exits if supervisor else Counter(),
            engine_restarts=supervisor.restarts if supervisor else 0,
            elapsed=elapsed,
            states=Counter(sagas.get(saga_id, "missing") for saga_id in ids),
            failed_starts=self.failed_starts,
            duplicate_copies=self.duplicate_copies,
            db_connections_terminated=self.db_connections_terminated,
            timeline=self.timeline,
            handler_calls=sum(calls.values()),
            handler_reruns=reruns,
            problems=problems,
            log_dir=str(self.log_dir),
            undone_past_pivot=total["undone_past_pivot"],
            kinds=kinds,
            repairs=Counter(self.repairs),
            redrive_rate=self.redrive_rate,
            setup=self.setup,
            overlapping=total["overlapping"],
            out_of_order=total["out_of_order"],
        )
