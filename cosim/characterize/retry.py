"""Second stage of a corner: reads that failed at the main deck's period, re-run at longer periods.

A point measures every operation at max(nominal, 1.25 x min_cycle), with min_cycle searched as the issue defines it
(write a word, then read it back). A read that follows a read of the opposite data through another column-mux input
can need longer: the NMOS-only column mux precharges the sense amp's side only to about VDD minus a threshold, and
the sense amp's PMOS input devices pass that weakly, so its internal inputs still lean toward the previous read when
it fires. At the foundry's supplies the data then leave the sense amp late but right (sram_32x256 tt/1.6 V/25 C,
read_0 at 7.5 ns: dout falls ~0.2 periods after the edge): a slower clock works. Below that (sram_16x128 at tt/25 C,
1.5 V and under) the latch resolves to the previous read's value whatever the period, since the sense enable is
self-timed from the falling edge; no retry passes and the corner is unusable. min_cycle cannot see either: its read
follows a write, whose driver sets the sense amp's side to full rail.

So a corner whose main deck read wrong data (its writes being fine) gets its main deck re-run at
RETRY_FACTORS x that period (the longest first: see retry_reads). The shortest period at which every operation of
the main sequence passes replaces the main rows and becomes the corner's ``read_cycle`` row: the clock floor the
memory model respects on top of min_cycle. If no period passes, the point's rows stand as failed rows and
``read_cycle`` is a failed row saying what was tried: the corner is unusable (cosim.errors.UnusableCorner). Every
other corner gets an ``ok`` read_cycle row with no value (no constraint beyond min_cycle).

Why a stage of its own, with its own cache entry (keyed by the point's key and the factors): only corners with
failed reads run anything here, and the point's record stays what the point measured.
"""

from __future__ import annotations

import math
import time
from types import MappingProxyType

from cosim.characterize import keys
from cosim.characterize.plan import main_sequence
from cosim.characterize.records import MeasurementRow, RetryRecord
from cosim.characterize.point import PointRequest, _check_cycle, _run, _sha, _spec

#: periods tried, as multiples of the main deck's period
RETRY_FACTORS = (1.5, 2.25)
#: the table ops the main deck measures (the rows a passing retry replaces)
MAIN_OPS = ("write_1to0", "write_0to1", "read_1", "read_0", "write_same", "idle")
_READS = ("read_0", "read_1")
_WRITES = ("write_1to0", "write_0to1", "write_same")


def retry_key(point_key: str) -> str:
    """Cache key of a corner's retry: its point's key and the periods tried (cosim.characterize.keys)."""
    return keys.retry_key(point_key, RETRY_FACTORS)


def main_rows(rows) -> dict[str, MeasurementRow]:
    return {r.op: r for r in rows if r.op in MAIN_OPS}


def needs_retry(rows) -> bool:
    """A read of the main deck returned wrong data while its writes stored theirs."""
    main = main_rows(rows)
    reads = [main[o] for o in _READS if o in main]
    writes = [main[o] for o in _WRITES if o in main]
    ran = bool(reads) and all(r.bits_checked is not None for r in reads)
    return ran and any(not r.ok for r in reads) and all(w.ok for w in writes)


def main_period_s(rows) -> float:
    periods = [r.period_s for r in main_rows(rows).values() if r.period_s is not None]
    return float(periods[0]) if periods else math.nan


def retry_reads(req: PointRequest, base_period_s: float, key: str = "") -> RetryRecord:
    """Re-run the main deck at RETRY_FACTORS x ``base_period_s``: the longest first, and only when every main
    operation passes there, the shorter ones from the shortest up; the first that passes is the read cycle.

    Why the longest first: most retried corners read wrong at every period tried, and a read that fails at the
    longest period is taken to fail at the shorter ones, so those corners cost one deck instead of two. Where the
    longest passes, every shorter one is still tried. ``key``: the record's key (:func:`retry_key`).
    """
    start = time.perf_counter()
    counters = {"runs": 0, "retries": 0}
    decks: dict[str, str] = {}
    seq = main_sequence(req.plan)
    tried = []

    def attempt(period: float):
        spec = _spec(req, seq, period, 0.0, req.options)
        r, deck, spec_run = _run(req, spec, f"read_retry_{period * 1e12:.0f}ps", counters)
        decks[f"read_retry_{period * 1e12:.0f}ps"] = _sha(deck)
        rows = [_check_cycle(req, spec_run, r, m) for m in seq[1]]
        bad = [f"{row.op} {row.message or 'failed'}" for row in rows if not row.ok]
        if bad:
            tried.append(f"{period:.4g} s: {', '.join(bad)}")
            return None
        return rows

    def record(rows, read_cycle: MeasurementRow) -> RetryRecord:
        return RetryRecord(key, req.corner, None if rows is None else tuple(rows), read_cycle,
                           MappingProxyType(decks), time.perf_counter() - start, counters["runs"],
                           counters["retries"])

    factors = sorted(RETRY_FACTORS)
    longest = base_period_s * factors[-1]
    passing = attempt(longest)
    if passing is None:
        shorter = ", ".join(f"{base_period_s * f:.4g}" for f in factors[:-1])
        message = (f"reads fail at the main period {base_period_s:.4g} s and at {'; '.join(tried)}"
                   + (f" (so {shorter} s not tried)" if shorter else ""))
        return record(None, MeasurementRow("read_cycle", "failed", message=message[:600]))
    period = longest
    for factor in factors[:-1]:
        rows = attempt(base_period_s * factor)
        if rows is not None:
            passing, period = rows, base_period_s * factor
            break
    message = (f"reads failed at the main period {base_period_s:.4g} s; every main operation passes at {period:.4g} s"
               + (f" (failed at {'; '.join(tried)})" if tried else ""))
    return record(passing, MeasurementRow("read_cycle", "ok", cycle_time_s=period, message=message))


def merge(rows, retry: RetryRecord | None) -> list[MeasurementRow]:
    """The corner's table rows: the point's, with the main rows replaced by a passing retry's, plus read_cycle."""
    rows = list(rows)
    if retry is None:
        main = main_rows(rows)
        if main and all(main[o].ok for o in _READS if o in main):
            period = float(f"{main_period_s(rows):.6g}")  # as the table stores it: a rebuilt table says the same
            note = MeasurementRow("read_cycle", "ok", message=f"reads pass at the main period {period:.4g} "
                                                              "s: no floor beyond min_cycle")
        else:
            note = MeasurementRow("read_cycle", "failed",
                                  message="not retried: the main deck's writes failed or it did not run")
        return rows + [note]
    if retry.rows is not None:
        replaced = {r.op: r for r in retry.rows}
        rows = [replaced.get(r.op, r) for r in rows]
    return rows + [retry.read_cycle]
