"""The made-up history ``saga_history`` writes: a shop's sagas and steps, as SQL.

Names, final states and step statuses come in realistic proportions, and ids
sort by time as the engine's do, so that the pages' filters and indexes meet
what a real database would hold. One statement writes a chunk of sagas.
"""

from __future__ import annotations

from typing import Any

#: Saga names of a mid-size shop, and how often each is started (weights).
NAMES = {
    "order.checkout": 40,
    "payment.capture": 20,
    "shipment.book": 15,
    "order.refund": 8,
    "subscription.renew": 8,
    "invoice.issue": 5,
    "inventory.restock": 3,
    "account.close": 1,
}
#: Final states of sagas older than an hour, per 10,000.
STATES = (
    ("completed", 9650),
    ("compensated", 250),
    ("failed", 70),
    ("compensation_failed", 30),
)
CHUNK = 100_000
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: Step statuses by saga state, step by step (three steps a saga).
STEP_STATUS = {
    "completed": ("completed", "completed", "completed"),
    "compensated": ("compensated", "compensated", "failed"),
    "failed": ("completed", "completed", "failed"),
    "compensation_failed": ("compensation_failed", "compensated", "failed"),
    "started": ("completed", "started", "pending"),
    "compensating": ("compensating", "compensated", "failed"),
}


def _ulid(ts: str, salt: str) -> str:
    """SQL for a ULID of time ``ts``: 10 characters of milliseconds, 16 of md5 (hex is
    a subset of the ULID alphabet), so ids sort by time as the engine's do."""
    ms = f"(extract(epoch FROM {ts}) * 1000)::bigint"
    time_part = " || ".join(
        f"substr('{ALPHABET}', ((({ms}) >> {shift}) & 31)::int + 1, 1)"
        for shift in range(45, -1, -5)
    )
    return f"({time_part} || upper(substr(md5({salt}), 1, 16)))"


def chunk_params(
    done: int, count: int, total: int, span_ms: int, ago_s: float, seed: str
) -> dict[str, Any]:
    """The parameters of ``chunk_sql()`` for sagas ``done`` to ``done + count - 1`` of
    ``total``, created from ``span_ms`` before ``ago_s`` seconds ago up to then."""
    return {
        "lo": done,
        "hi": done + count - 1,
        "total": max(total, 1),
        "span_ms": span_ms,
        "ago_s": ago_s,
        "seed": seed,
        "names": list(NAMES),
    }


def chunk_sql() -> str:
    """One ``INSERT ... SELECT`` of a chunk of sagas and their three steps each."""
    # Which name and state a row gets comes from hashes of its number, so
    # filters select realistic fractions (e.g. 0.7% failed, 8% refunds).
    weight_total = sum(NAMES.values())
    name_cases = []
    edge = 0
    for index, weight in enumerate(NAMES.values()):
        edge += weight
        name_cases.append(
            (f"mod(n * 7919, {weight_total}) < {edge}", f"(%(names)s::text[])[{index + 1}]")
        )
    state_cases = []
    edge = 0
    for state, per in STATES:
        edge += per
        state_cases.append((f"mod(n * 104729, 10000) < {edge}", f"'{state}'"))
    name_sql = "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, v in name_cases) + " END"
    state_sql = "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, v in state_cases) + " END"
    step_status = (
        "CASE "
        + " ".join(
            f"WHEN s.state = '{state}' AND k = {k} THEN '{status}'"
            for state, statuses in STEP_STATUS.items()
            for k, status in enumerate(statuses)
        )
        + " END"
    )
    saga_id = _ulid("ts", "%(seed)s || n::text")
    step_id = _ulid("s.created_at + k * interval '40 ms'", "%(seed)s || s.id || k::text")
    return f"""
WITH rows AS (
    SELECT n, now() - make_interval(
        secs => %(ago_s)s + (%(span_ms)s::bigint * (%(total)s - n) / %(total)s) / 1000.0) AS ts
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS n
), sagas AS (
    INSERT INTO django_saga_saga
        (id, name, state, context, error, created_at, updated_at, completed_at,
         deadline_at, definition, version)
    SELECT {saga_id}, name, state,
        jsonb_build_object(
            'order_id', n, 'customer', 'c-' || mod(n, 50000), 'total', mod(n, 997) / 4.0,
            'currency', 'EUR', 'lines', jsonb_build_array(jsonb_build_object(
                'sku', 'SKU-' || mod(n, 5000), 'qty', 1 + mod(n, 3)))),
        CASE WHEN state = 'completed' THEN ''
             ELSE 'step ''charge'' failed: PaymentDeclined: card declined by issuer' END,
        ts, ts + interval '180 ms',
        CASE WHEN state IN ('completed', 'compensated') THEN ts + interval '180 ms' END,
        NULL, 'shop.sagas.' || replace(initcap(name), '.', ''), '3'
    FROM (SELECT n, ts, {name_sql} AS name, {state_sql} AS state FROM rows) AS r
    RETURNING id, state, created_at
)
INSERT INTO django_saga_sagastep
    (id, saga_id, position, stage, name, action, compensation, input, output, status, error,
     attempts, compensation_attempts, created_at, updated_at, started_at, executed_at,
     compensated_at, duration_ms, timeout, timeout_at, history)
SELECT {step_id}, s.id, k, k, (ARRAY['reserve', 'charge', 'ship'])[k + 1],
    (ARRAY['inventory.reserve', 'payment.charge', 'shipping.book'])[k + 1],
    (ARRAY['inventory.release', 'payment.refund', 'shipping.cancel'])[k + 1],
    jsonb_build_object('sku', 'SKU-' || k, 'qty', 1, 'warehouse', 'north'),
    CASE WHEN status IN ('completed', 'compensated', 'compensating', 'compensation_failed')
         THEN jsonb_build_object('ref', 'ext-' || substr(s.id, 11, 8), 'ok', true)
         ELSE '{{}}'::jsonb END,
    status,
    CASE WHEN status = 'failed' THEN 'PaymentDeclined: card declined by issuer' ELSE '' END,
    CASE WHEN status = 'pending' THEN 0 ELSE 1 END,
    CASE WHEN status IN ('compensated', 'compensation_failed') THEN 1 ELSE 0 END,
    s.created_at, s.created_at + interval '150 ms', s.created_at + k * interval '40 ms',
    CASE WHEN status NOT IN ('pending', 'started')
         THEN s.created_at + k * interval '40 ms' + interval '12 ms' END,
    CASE WHEN status = 'compensated' THEN s.created_at + interval '170 ms' END,
    CASE WHEN status = 'pending' THEN NULL ELSE 12 END, NULL, NULL,
    CASE WHEN status = 'pending' THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
        'kind', 'execute', 'attempt', 1,
        'outcome', CASE WHEN status = 'failed' THEN 'failed' ELSE 'completed' END,
        'at', to_char(s.created_at + k * interval '40 ms', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        'duration_ms', 12)) END
FROM sagas AS s CROSS JOIN generate_series(0, 2) AS k
CROSS JOIN LATERAL (SELECT {step_status} AS status) AS st
"""
