"""The three-node RabbitMQ cluster of ``scripts/rabbitmq-cluster``, for the
cluster tests and the chaos run on a cluster: its nodes, their URLs, and
``rabbitmqctl`` against one node.

The machine's own broker (5672) is not one of these nodes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rabbitmq-cluster"
NODES = ("saga1@localhost", "saga2@localhost", "saga3@localhost")
PORTS = (5681, 5682, 5683)
URLS = tuple(f"amqp://guest:guest@127.0.0.1:{port}/%2F" for port in PORTS)
HOW_TO_START = "start it with `scripts/rabbitmq-cluster start` (it needs rabbitmq-server)"


def script(command: str, timeout: float = 1000) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/rabbitmq-cluster <command>``."""
    return subprocess.run(
        [str(SCRIPT), command], capture_output=True, text=True, timeout=timeout, check=False
    )


def is_up() -> bool:
    return script("status", timeout=60).returncode == 0


def start() -> str:
    """Start the cluster (a no-op when it is up): '' or what went wrong.

    On failure no half-started node is left holding its ports.
    """
    try:
        started = script("start")
        problem = "" if started.returncode == 0 else (started.stderr or started.stdout).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = repr(exc)
    if problem:
        stop()
    return problem


def stop() -> None:
    script("stop", timeout=120)


def ctl(node: str, *args: str, timeout: float = 60) -> str:
    """``rabbitmqctl -n node args``; raises with its stderr when it fails."""
    done = subprocess.run(
        ["rabbitmqctl", "-q", "-n", node, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl -n {node} {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def ctl_json(node: str, *args: str) -> Any:
    return json.loads(ctl(node, *args, "--formatter", "json"))


def running_nodes(asked: str) -> list[str]:
    """The cluster's running nodes as ``asked`` sees them."""
    return sorted(ctl_json(asked, "cluster_status")["running_nodes"])


def leader(queue: str, asked: str) -> str:
    """The node leading quorum queue ``queue``, as node ``asked`` sees it."""
    for row in ctl_json(asked, "list_queues", "name", "leader"):
        if row["name"] == queue:
            return str(row["leader"])
    raise LookupError(f"no queue {queue!r} on the cluster")


def stop_node(node: str) -> None:
    """Stop the RabbitMQ application on ``node`` (its Erlang runtime stays up)."""
    ctl(node, "stop_app")


def start_node(node: str, timeout: float = 120) -> None:
    """Start the application on ``node`` again and wait until it serves."""
    ctl(node, "start_app", timeout=timeout)
    ctl(node, "await_startup", "--timeout", str(int(timeout)), timeout=timeout + 10)


def urls_from(index: int) -> list[str]:
    """The nodes' URLs starting with node ``index``: how engines spread over
    the nodes while each can still fail over to every other."""
    index %= len(URLS)
    return list(URLS[index:] + URLS[:index])
