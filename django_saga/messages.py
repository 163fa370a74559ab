"""The message protocol: references to a step, never the data itself.

A body is ``{"v": 1, "kind": "execute" | "compensate" | "settle", "saga_id",
"step_id", "attempt"}`` as JSON. The database holds inputs and outputs.
``settle`` tells a child step that its child saga ended: the step reads the
child's state and settles from it (its ``attempt`` is always 1). A message
sent again for its turn of a rate-limited action says so, ``"rated": true``:
it has its turn and takes no other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import MalformedMessage, brief

VERSION = 1
EXECUTE = "execute"
COMPENSATE = "compensate"
SETTLE = "settle"
KINDS = (EXECUTE, COMPENSATE, SETTLE)


@dataclass(frozen=True)
class StepMessage:
    kind: str
    saga_id: str
    step_id: str
    attempt: int
    #: Sent again, due at the turn it took of its action's rate.
    rated: bool = False

    def encode(self) -> str:
        body: dict[str, Any] = {
            "v": VERSION,
            "kind": self.kind,
            "saga_id": self.saga_id,
            "step_id": self.step_id,
            "attempt": self.attempt,
        }
        if self.rated:
            body["rated"] = True
        return json.dumps(body, separators=(",", ":"))


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the broker: its outbox row id doubles as message_id."""

    id: str
    kind: str
    saga_id: str
    body: str
    #: The saga's priority: above 0, the message goes to the priority queue.
    priority: int = 0


def decode(body: bytes, max_bytes: int) -> StepMessage:
    """Parse and validate a message body, or raise ``MalformedMessage`` saying why."""
    if len(body) > max_bytes:
        raise MalformedMessage(f"body is {len(body)} bytes, over the {max_bytes}-byte limit")
    try:
        data: Any = json.loads(body)
    except RecursionError as exc:
        raise MalformedMessage("body is JSON nested too deep to read") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedMessage(f"body must be a JSON object, got {type(data).__name__}")
    version = data.get("v")
    if type(version) is not int or version != VERSION:
        raise MalformedMessage(f"unknown protocol version {brief(version)} (expected {VERSION})")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise MalformedMessage(f"unknown kind {brief(kind)} (expected one of {', '.join(KINDS)})")
    for key in ("saga_id", "step_id"):
        value = data.get(key)
        if not isinstance(value, str) or not value or len(value) > 64 or "\x00" in value:
            raise MalformedMessage(f"{key} must be a non-empty id string, got {brief(value)}")
    attempt = data.get("attempt")
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise MalformedMessage(f"attempt must be a positive integer, got {brief(attempt)}")
    rated = data.get("rated", False)
    if type(rated) is not bool:
        raise MalformedMessage(f"rated must be true or false, got {brief(rated)}")
    return StepMessage(kind, data["saga_id"], data["step_id"], attempt, rated)
