"""What a caller hands to ``manager.start()``: steps, and their validation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from .errors import NotJSONSerializableError, SagaDefinitionError


@dataclass(frozen=True)
class Step:
    """One step of a saga as the caller declares it."""

    name: str
    action: str
    compensation: str = ""
    input: Mapping[str, Any] = field(default_factory=dict)
    #: Seconds one attempt may take; None takes the handler's or SAGA['STEP_TIMEOUT'].
    timeout: float | None = None


def to_json(value: Any, what: str) -> Any:
    """Return ``value`` as it will read back from a JSON column.

    Accepts whatever ``DjangoJSONEncoder`` handles (datetimes, Decimals,
    UUIDs, ...) and turns it into plain JSON types now, so that handlers see
    the same values from every store. NaN and infinities are refused: JSON
    (and PostgreSQL's jsonb) has no room for them.
    """
    try:
        text = json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NotJSONSerializableError(f"{what} is not JSON-serializable: {exc}") from exc
    data = json.loads(text)
    if _has_nul(data):
        raise NotJSONSerializableError(
            f"{what} holds a NUL character (\\u0000), which PostgreSQL's jsonb cannot store"
        )
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def normalise_steps(steps: Iterable[Step | Mapping[str, Any]]) -> list[Step]:
    """Validate a step list and return it as ``Step`` objects with JSON inputs."""
    if isinstance(steps, str | bytes | Mapping) or not isinstance(steps, Iterable):
        raise SagaDefinitionError(
            f"steps must be a list of Step objects, got {type(steps).__name__}"
        )
    result: list[Step] = []
    seen: set[str] = set()
    for index, raw in enumerate(steps):
        step = _as_step(raw, index)
        if step.name in seen:
            raise SagaDefinitionError(
                f"Duplicate step name {step.name!r}: step names must be unique"
            )
        seen.add(step.name)
        if not isinstance(step.input, Mapping):
            raise SagaDefinitionError(
                f"Step {step.name!r} input must be a dict, got {type(step.input).__name__}"
            )
        data = to_json(dict(step.input), f"Step {step.name!r} input")
        result.append(Step(step.name, step.action, step.compensation, data, step.timeout))
    if not result:
        raise SagaDefinitionError("A saga needs at least one step")
    return result


def _as_step(raw: Step | Mapping[str, Any], index: int) -> Step:
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"name", "action", "compensation", "input", "timeout"}
        if unknown:
            raise SagaDefinitionError(f"Step #{index + 1} has unknown keys: {sorted(unknown)}")
        try:
            raw = Step(**raw)
        except TypeError as exc:
            raise SagaDefinitionError(f"Step #{index + 1}: {exc}") from exc
    if not isinstance(raw, Step):
        raise SagaDefinitionError(f"Step #{index + 1} must be a Step, got {type(raw).__name__}")
    for attr in ("name", "action"):
        value = getattr(raw, attr)
        if not isinstance(value, str) or not value.strip():
            raise SagaDefinitionError(f"Step #{index + 1} needs a non-empty {attr}, got {value!r}")
    timeout = raw.timeout
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise SagaDefinitionError(
            f"Step {raw.name!r} timeout must be a positive number of seconds, got {timeout!r}"
        )
    if not isinstance(raw.compensation, str):
        raise SagaDefinitionError(
            f"Step {raw.name!r} compensation must be an action name or '', got {raw.compensation!r}"
        )
    return raw
