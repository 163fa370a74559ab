"""``saga_time``'s printed figures: each measurement's lines, then one summary table.

Only formatting lives here.
"""

from __future__ import annotations

from .percentiles import percentile
from .time_burst import Burst
from .time_engines import Cpu
from .time_schedules import Ticks
from .time_sleepers import Sleepers


def sleepers_lines(result: Sleepers) -> list[str]:
    lines = [f"1. Idle cost of {result.count} sleepers (engine CPU over a window)"]
    windows = [
        ("no saga at all", result.empty),
        (f"{result.count} sleepers", result.asleep),
        (f"{result.count} sleepers older than STALE_AFTER", result.aged),
    ]
    for label, cpu in windows:
        if cpu is not None:
            lines.append(f"   {label:<45} {_cpu(cpu)}")
    started = result.started
    if started is not None:
        lines.append(
            f"   made asleep: {started.sleeping}/{result.count} in {started.sleeping_seconds:.0f} s"
            f" ({1000 * started.per_saga:.1f} ms a saga); unsent outbox rows due in over a day:"
            f" {result.delayed_rows}"
        )
    lines.append(f"   engine CPU with sleepers / without: x{result.ratio:.2f}")
    if result.aged is not None and result.empty.engines:
        lines.append(
            "   engine CPU with sleepers older than STALE_AFTER / without: "
            f"x{result.aged.engines / result.empty.engines:.2f}"
        )
    lines.append("   periodic queries at this size:")
    lines += [f"     {q.line()}" for q in result.queries]
    return lines


def burst_lines(result: Burst) -> list[str]:
    lines = [f"2. A burst of {result.count} sleeps, all due at {result.wake:%H:%M:%S} (T)"]
    if result.started is not None:
        lines.append(
            f"   asleep before T: {result.asleep_in_time}/{result.count} "
            f"(started in {result.started.sleeping_seconds:.0f} s)"
        )
    lines += [
        f"   wake dispatched (sleep step completed) - T: {_spread(result.woken)}",
        f"   wake message marked sent by the relay - T: {_spread(result.published)}",
        f"   saga completed (the step after too) - T:   {_spread(result.completed)}",
        f"   CPU from T until every wake: {_cpu(result.cpu)}",
    ]
    lines += [f"   note: {note}" for note in result.notes]
    return lines


def schedules_lines(result: Ticks) -> list[str]:
    lines = [
        f"3. {result.count} schedules due at the same tick {result.tick:%H:%M:%S} (T)",
        f"   rows made in {result.created_seconds:.1f} s, in one transaction",
        f"   run row started_at - T: {_spread(result.started)}",
        f"   every run row committed and seen by the poll: T + {result.all_visible:.2f} s",
        f"   run's saga completed - T: {_spread(result.completed)}",
        f"   CPU from T until every run row: {_cpu(result.cpu)}",
    ]
    lines += [f"   note: {note}" for note in result.notes]
    return lines


def summary(
    machine: str,
    engines: int,
    concurrency: int,
    sleepers: Sleepers | None,
    burst: Burst | None,
    ticks: Ticks | None,
) -> list[str]:
    rows: list[tuple[str, str, str, str]] = []
    if sleepers is not None:
        aged = sleepers.aged.engines if sleepers.aged is not None else float("nan")
        asleep = sleepers.asleep.engines if sleepers.asleep is not None else float("nan")
        stale = next((q for q in sleepers.queries if "older than" in q.label), None)
        rows.append(
            (
                f"idle engine CPU, {sleepers.count} sleepers",
                f"{sleepers.empty.engines:.2f} s -> {asleep:.2f} s (x{sleepers.ratio:.2f}); "
                f"aged {aged:.2f} s; per {sleepers.empty.seconds:.0f} s",
                "none beyond the sweeper's query",
                _verdict(sleepers.held),
            )
        )
        if stale is not None:
            rows.append(
                (
                    "sweeper's stale query at that size",
                    f"{stale.call_ms:.1f} ms a call, every 60 s",
                    "(the cost it may have)",
                    "",
                )
            )
    if burst is not None:
        rows.append(
            (
                f"burst of {burst.count} wakes: last / p50 / p99",
                _triple(burst.woken),
                "all within 10 s of T",
                _verdict(burst.held),
            )
        )
    if ticks is not None:
        rows.append(
            (
                f"{ticks.count} schedules: max / p50 / p99",
                f"{_triple(ticks.started)}; all committed T+{ticks.all_visible:.2f} s",
                "all within 5 s of the tick",
                _verdict(ticks.held),
            )
        )
    header = ("figure", "measured", "requirement", "held")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [machine, f"{engines} engine(s) x concurrency {concurrency}", ""]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return lines


def _verdict(held: bool) -> str:
    return "yes" if held else "NO"


def _cpu(cpu: Cpu | None) -> str:
    if cpu is None:
        return "n/a"
    pg = "n/a" if cpu.postgres is None else f"{cpu.postgres:.2f}"
    return (
        f"engines {cpu.engines:.2f} s ({cpu.share(cpu.engines)}), "
        f"their PostgreSQL backends {pg} s, other processes {cpu.others:.1f} s "
        f"over {cpu.seconds:.1f} s"
    )


def _triple(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{max(values):.2f} / {percentile(values, 50):.2f} / {percentile(values, 99):.2f} s"


def _spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"min {min(values):.2f}, p50 {percentile(values, 50):.2f}, "
        f"p99 {percentile(values, 99):.2f}, max {max(values):.2f} s ({len(values)})"
    )
