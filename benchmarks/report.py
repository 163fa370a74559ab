"""The printed report: every run's figures side by side, ratios, pairs and the machine.

Only formatting lives here, so that what is measured and how it is shown
change apart.
"""

from __future__ import annotations

import os
import statistics
import sys

from .percentiles import ms, percentile
from .workload import RunResult, Workload


def report(
    work: Workload,
    results: list[RunResult],
    sql: list[tuple[str, list[str]]],
    verbose: bool = False,
    compare: bool = True,
) -> str:
    """The figures of every run side by side, then ratios, SQL detail and memory."""
    lines = []
    table: list[tuple[str, list[str]]] = [
        ("sagas completed / started", [f"{r.completed}/{r.started}" for r in results]),
        ("time to start them (s)", [f"{r.start_seconds:.1f}" for r in results]),
        (
            "one start() p50/p99 (ms), callers at once",
            [f"{_pair(r.start_latencies, 50, 99)}, {r.starters}" for r in results],
        ),
        ("elapsed, first start -> last done (s)", [f"{r.elapsed:.1f}" for r in results]),
        ("sagas/s", [f"{_rate(r.completed, r.elapsed):.1f}" for r in results]),
        ("steps/s", [f"{_rate(r.total_steps, r.elapsed):.1f}" for r in results]),
        ("start -> first handler p50/p99 (ms)", [_pair(r.first_hops, 50, 99) for r in results]),
        ("hand-off p50 (ms)", [ms(r.handoffs, 50) for r in results]),
        ("hand-off p95 (ms)", [ms(r.handoffs, 95) for r in results]),
        ("hand-off p99 (ms)", [ms(r.handoffs, 99) for r in results]),
        ("hand-off mean / max (ms)", [_mean_max(r.handoffs) for r in results]),
        ("saga latency p50/p99 (ms)", [_pair(r.saga_latencies, 50, 99) for r in results]),
        ("worker CPU per step (ms)", [_per_step(_ms(r.cpu_seconds), r) for r in results]),
        (
            "PostgreSQL backends CPU per step (ms)",
            [_per_step(_ms(r.pg_cpu_seconds), r) for r in results],
        ),
        (
            "RabbitMQ server CPU per step (ms)",
            [_per_step(_ms(r.broker_cpu_seconds), r) for r in results],
        ),
        ("peak RSS per process (MB)", [_peaks(r.peak_rss) for r in results]),
        ("RSS warm-up -> end, sum (MB)", [_growth(r) for r in results]),
        ("DB transactions per step", [_per_step(r.db.get("xact_commit"), r) for r in results]),
        ("DB rows ins/upd/del per step", [_rows_per_step(r) for r in results]),
        ("DB connections opened", [str(r.db.get("sessions", "n/a")) for r in results]),
        (
            "backends waiting for a lock, mean / max (% of samples)",
            [r.lock_waits.summary() if r.lock_waits else "n/a" for r in results],
        ),
        ("deadlocks", [str(r.db.get("deadlocks", "n/a")) for r in results]),
        ("SQL statements per step", [_per_step(r.statements, r) for r in results]),
        ("  counted", [r.statements_how or "n/a" for r in results]),
        ("benchmark rows written / expected", [f"{r.rows}/{r.total_steps}" for r in results]),
    ]
    width = max(len(name) for name, _ in table) + 2
    col = max(
        20, *(len(v) + 2 for _, vs in table for v in vs), *(len(r.label) + 2 for r in results)
    )
    lines.append("".ljust(width) + "".join(r.label.rjust(col) for r in results))
    for name, values in table:
        lines.append(name.ljust(width) + "".join(v.rjust(col) for v in values))
    if compare:
        lines += [ratios(results[0], other) for other in results[1:]]
    lines.append("")
    if sql:
        lines.append(
            "django-saga SQL statements per transaction, captured in-process "
            "(CaptureQueriesContext, not counting BEGIN and COMMIT): "
            + ", ".join(f"{label}: {_statements(statements)}" for label, statements in sql)
        )
    if verbose:
        for label, statements in sql:
            lines.append(f"  {label}:")
            lines += [f"    {s[:160]}" for s in statements]
    for result in results:
        if result.breakdown:
            lines.append(f"hand-off of {result.label} in segments (ms), p50 / p99:")
            for label, durations in result.breakdown:
                lines.append(f"  {label:<48} {ms(durations, 50):>8} / {ms(durations, 99):>8}")
        if work.memory:
            lines.append(f"RSS of {result.label} (MB) by sagas completed:")
            for label, done, rss in result.rss_marks:
                per = " ".join(f"{k}={v:.1f}" for k, v in rss.items())
                lines.append(f"  {label:>8} {done:>7}: {per}")
        if result.lock_waits and result.lock_waits.by_event:
            events = " ".join(f"{k}={v}" for k, v in result.lock_waits.by_event.most_common())
            lines.append(
                f"lock waits of {result.label} by wait event (backends x samples): {events}"
            )
        lines += [f"note ({result.label}): {n}" for n in result.notes]
    return "\n".join(lines)


def ratios(saga: RunResult, other: RunResult) -> str:
    """One line: django-saga's figures divided by another run's."""

    def p(result: RunResult, values: str, q: float) -> float:
        return percentile(getattr(result, values), q)

    def cpu(result: RunResult) -> float:
        return result.cpu_seconds / max(1, result.total_steps)

    pairs = [
        ("sagas/s", _rate(saga.completed, saga.elapsed), _rate(other.completed, other.elapsed)),
        ("hand-off p50", p(saga, "handoffs", 50), p(other, "handoffs", 50)),
        ("hand-off p99", p(saga, "handoffs", 99), p(other, "handoffs", 99)),
        ("saga latency p50", p(saga, "saga_latencies", 50), p(other, "saga_latencies", 50)),
        ("worker CPU per step", cpu(saga), cpu(other)),
    ]
    return f"ratio django-saga / {other.label}: " + ", ".join(
        f"{name} x{_ratio(a, b)}" for name, a, b in pairs
    )


def pair_summary(runs: list[list[RunResult]]) -> str:
    """Each pair's throughput ratios, django-saga / each baseline, and their medians."""
    lines = [
        f"sagas/s in {len(runs)} pairs, django-saga / each baseline (and each one's worker, "
        "PostgreSQL CPU ms per step; DB transactions and rows inserted/updated/deleted per step):"
    ]
    ratios: dict[str, list[float]] = {}
    for n, (saga, *others) in enumerate(runs, 1):
        a = _rate(saga.completed, saga.elapsed)
        first = "the baselines" if n % 2 == 0 else "django-saga"
        lines.append(f"  pair {n} ({first} first):")
        lines.append(f"      {'django-saga':<26} {a:>7.1f}           {_costs(saga)}")
        for other in others:
            b = _rate(other.completed, other.elapsed)
            ratios.setdefault(other.label, []).append(a / b)
            lines.append(f"    / {other.label:<26} {b:>7.1f} = x{a / b:.2f}   {_costs(other)}")
    lines.append(
        "median ratio, django-saga / "
        + ", / ".join(f"{label} x{statistics.median(r):.2f}" for label, r in ratios.items())
    )
    return "\n".join(lines)


def _costs(result: RunResult) -> str:
    """Worker and PostgreSQL CPU per step, then DB transactions and rows per step."""
    return (
        f"({_per_step(_ms(result.cpu_seconds), result)}, "
        f"{_per_step(_ms(result.pg_cpu_seconds), result)})   per step: "
        f"{_per_step(result.db.get('xact_commit'), result)} txn, {_rows_per_step(result)} rows"
    )


def machine_line() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} CPUs, load average {load}, Python {sys.version.split()[0]}"


def _statements(statements: list[str]) -> int:
    return sum(1 for s in statements if s not in ("BEGIN", "COMMIT"))


def _rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _pair(values: list[float], a: float, b: float) -> str:
    return f"{ms(values, a)} / {ms(values, b)}"


def _mean_max(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.fmean(values) * 1000:.1f} / {max(values) * 1000:.1f}"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _per_step(value: float | None, result: RunResult) -> str:
    if value is None or not result.total_steps:
        return "n/a"
    return f"{value / result.total_steps:.2f}"


def _rows_per_step(result: RunResult) -> str:
    db = result.db
    if not db:
        return "n/a"
    n = max(1, result.total_steps)
    return "/".join(f"{db[k] / n:.2f}" for k in ("tup_inserted", "tup_updated", "tup_deleted"))


def _peaks(peaks: dict[str, float]) -> str:
    return " ".join(f"{v:.0f}" for v in peaks.values())


def _growth(result: RunResult) -> str:
    marks = {label: rss for label, _, rss in result.rss_marks}
    if "warm-up" not in marks or "end" not in marks:
        return "n/a"
    warm, end = sum(marks["warm-up"].values()), sum(marks["end"].values())
    return f"{warm:.0f} -> {end:.0f} ({end - warm:+.1f})"
