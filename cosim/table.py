"""Read a characterization table (``characterization/<macro>.csv`` + ``.json``) and query it.

The table is the only source of SRAM figures in cosim. A query names a process corner, a supply, a temperature, an
operation and a quantity; it returns the value at that grid point exactly, or a (bi)linear interpolation over
(vdd, temp) between the surrounding grid points of the same process and op (scipy's RegularGridInterpolator). It
never extrapolates: a query outside the grid raises :class:`~cosim.errors.TableRangeError`. Pass/fail is never
interpolated: a query between grid points whose neighbours disagree on status (any of them failed, or an op's
status differs) raises :class:`~cosim.errors.InterpolationRefused`. Every value comes back with the rows it was
built from (:class:`RowRef`), so reports can say which simulator runs produced each figure.

A corner is *usable* for inference when its writes, min_cycle and reads pass (reads possibly only at the slower
period of its ``read_cycle`` row, cosim.characterize.retry): :meth:`CharacterizationTable.corner_status` says which,
and :func:`access_costs` refuses an unusable corner with :class:`~cosim.errors.UnusableCorner`.

Per-access costs (:class:`AccessCosts`) are derived from the rows by linear arithmetic documented on each field.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from cosim.characterize.integrity import check_csv

from cosim.errors import CornerError, InterpolationRefused, TableRangeError, UnusableCorner
from cosim.types import PROCESSES, Corner

#: the columns of a characterization table (contract with cosim.characterize)
COLUMNS: tuple[str, ...] = (
    "macro", "process", "vdd_v", "temp_c", "op", "status", "access_time_s", "timed_from", "slew_s", "cycle_time_s",
    "energy_j", "leakage_w", "period_s", "bits_checked", "bit_errors", "message", "solver_options", "point_key",
)
#: operations a table holds
OPS: tuple[str, ...] = ("read_0", "read_1", "write_same", "write_0to1", "write_1to0", "idle", "leakage", "min_cycle",
                        "row_switch", "read_cycle")
#: numeric quantities a query can ask for
QUANTITIES: tuple[str, ...] = (
    "access_time_s", "slew_s", "cycle_time_s", "energy_j", "leakage_w", "period_s", "bits_checked", "bit_errors",
)
_FIX = "regenerate it with `make characterize`"

_WRITES = ("write_same", "write_0to1", "write_1to0")
_READS = ("read_0", "read_1")
#: ops whose pass/fail decides whether a corner can hold a network. row_switch is not among them: its wrong bits are
#: a hazard the memory controller works around with hold cycles (AccessCosts.row_switch_hazard)
PASS_FAIL_OPS: tuple[str, ...] = _WRITES + ("min_cycle",) + _READS + ("read_cycle", "idle", "leakage")

#: corner verdicts (CornerStatus.status); every unusable one starts with "unusable"
STATUS_OK = "ok"
STATUS_SLOWER_CLOCK = "reads fail at this clock; slower clock used"
UNUSABLE_WRITES = "unusable: writes fail"
UNUSABLE_NO_CYCLE = "unusable: no clock period passes"
UNUSABLE_READS = "unusable: reads fail at every clock tried"


def classify_corner(rows: Mapping[str, tuple[str, str, float]]) -> tuple[str, str, tuple[str, ...]]:
    """The verdict on one grid corner from its rows, op -> (status, message, cycle_time_s): (status, reason, failed
    ops). Writes that fail (or a min_cycle search that found no passing period) make the corner unusable; so do
    reads that fail with no ``read_cycle`` period at which they pass. Reads that pass only at the read_cycle period
    (the retry replaced the main rows) are usable at that slower clock. ``reason`` quotes the table's messages."""
    failed = {op: (rows[op][1] or "no message") for op in PASS_FAIL_OPS if op in rows and rows[op][0] == "failed"}

    def quote(ops) -> str:
        return "; ".join(f"{op} failed: {failed[op]}" for op in ops)

    writes = [op for op in _WRITES if op in failed]
    if writes:
        return UNUSABLE_WRITES, quote(writes), tuple(failed)
    if "min_cycle" in failed:
        return UNUSABLE_NO_CYCLE, quote(["min_cycle"]), tuple(failed)
    reads = [op for op in _READS if op in failed]
    if reads or "read_cycle" in failed:
        why = quote(reads)
        if "read_cycle" in failed:
            why += ("; " if why else "") + f"read_cycle: {failed['read_cycle']}"
        else:
            why += "; no read_cycle row gives a slower period at which they pass"
        return UNUSABLE_READS, why, tuple(failed)
    if failed:
        op = next(iter(failed))
        return f"unusable: {op} fails", quote([op]), tuple(failed)
    rc, mc = rows.get("read_cycle"), rows.get("min_cycle")
    if rc is not None and rc[0] == "ok" and math.isfinite(rc[2]) and rc[2] > (mc[2] if mc is not None else 0.0):
        return STATUS_SLOWER_CLOCK, f"read_cycle: {rc[1]}" if rc[1] else "read_cycle", ()
    return STATUS_OK, "", ()


@dataclass(frozen=True)
class CornerStatus:
    """Whether a macro can hold a network at a corner, and why not.

    ``status`` is STATUS_OK, STATUS_SLOWER_CLOCK (reads fail at the min-cycle clock; the read_cycle period, where
    they pass, is used) or one starting with "unusable". Between grid points it is the neighbours' common verdict
    (neighbours that disagree are refused, never blended). ``min_cycle_s`` is the write-then-read minimum cycle
    (op min_cycle) and ``clock_floor_s`` that raised to read_cycle (:meth:`CharacterizationTable.clock_floor`);
    both nan where the corner is unusable."""

    macro: str
    path: Path
    corner: Corner
    status: str
    reason: str
    failed_ops: tuple[str, ...]
    min_cycle_s: float = float("nan")
    clock_floor_s: float = float("nan")

    @property
    def usable(self) -> bool:
        return not self.status.startswith("unusable")

    @property
    def slower_clock(self) -> bool:
        return self.status == STATUS_SLOWER_CLOCK

    def line(self) -> str:
        """One line for a refusal: macro, corner, what failed (the table's messages) and the fix."""
        c = self.corner
        return (f"{self.macro} at {c.process} {c.vdd_v:g} V {c.temp_c:g} C is {self.status} ({self.reason}): no "
                f"inference there; pick another corner (--process/--vdd/--temp) or see the table {self.path} "
                f"(`cosim report characterization --macro {self.macro}` plots which corners pass)")

    def as_dict(self) -> dict:
        return {"macro": self.macro, "status": self.status, "usable": self.usable, "reason": self.reason,
                "failed_ops": list(self.failed_ops), "min_cycle_s": self.min_cycle_s,
                "clock_floor_s": self.clock_floor_s}


@dataclass(frozen=True)
class RowRef:
    """One table row that contributed to a figure, with its interpolation weight (1.0 for an exact grid point)."""

    macro: str
    process: str
    vdd_v: float
    temp_c: float
    op: str
    quantity: str
    weight: float
    point_key: str

    def as_dict(self) -> dict:
        return {
            "macro": self.macro, "process": self.process, "vdd_v": self.vdd_v, "temp_c": self.temp_c,
            "op": self.op, "quantity": self.quantity, "weight": self.weight, "point_key": self.point_key,
        }


@dataclass(frozen=True)
class Value:
    """A queried number with its unit (in the quantity's name) and the rows it came from."""

    value: float
    quantity: str
    rows: tuple[RowRef, ...]

    @property
    def interpolated(self) -> bool:
        return len(self.rows) != 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bracket(axis: np.ndarray, x: float, name: str, path: Path) -> list[tuple[int, float]]:
    """Indices and linear weights of the grid points around x on a sorted axis (one point if x is on the grid)."""
    hit = np.flatnonzero(np.isclose(axis, x, rtol=0.0, atol=1e-9))
    if hit.size:
        return [(int(hit[0]), 1.0)]
    if x < axis[0] or x > axis[-1]:
        raise TableRangeError(
            f"{path.name}: {name}={x:g} is outside the characterized grid {axis[0]:g}..{axis[-1]:g} "
            f"(tables never extrapolate): query inside the grid or add the point to the grid and `make characterize`"
        )
    hi = int(np.searchsorted(axis, x))
    lo = hi - 1
    w_hi = (x - axis[lo]) / (axis[hi] - axis[lo])
    return [(lo, 1.0 - float(w_hi)), (hi, float(w_hi))]


def _blend(axes: tuple[tuple[float, ...], tuple[float, ...]], brackets, query: tuple[float, float],
           values: np.ndarray) -> float:
    """The value at ``query`` (vdd, temp) from ``values`` [len(vb), len(tb)] at the bracketing grid points: the grid
    value itself at a grid point, else scipy's linear RegularGridInterpolator over the axes that bracket the query
    (one axis on a grid line, both in a cell)."""
    if values.size == 1:
        return float(values.reshape(-1)[0])
    from scipy.interpolate import RegularGridInterpolator

    pts, xs = [], []
    for axis, br, x in zip(axes, brackets, query):
        if len(br) == 2:
            pts.append(np.array([axis[i] for i, _ in br], dtype=float))
            xs.append(float(x))
    f = RegularGridInterpolator(tuple(pts), values.reshape([len(p) for p in pts]), method="linear",
                                bounds_error=True)
    return float(f(np.array([xs]))[0])


@dataclass(frozen=True)
class CharacterizationTable:
    """A loaded table. Build with :meth:`load`. ``data`` is an array process x vdd_v x temp_c x op x quantity,
    labelled by ``processes``, ``vdds``, ``temps``, ``ops`` and QUANTITIES (plain numpy: importing xarray costs more
    than a whole small run; ``to_xarray`` gives the labelled view)."""

    path: Path
    macro: str
    word_size: int
    num_words: int
    provenance: Mapping
    csv_sha256: str
    json_sha256: str
    processes: tuple[str, ...]
    vdds: tuple[float, ...]
    temps: tuple[float, ...]
    ops: tuple[str, ...]
    data: np.ndarray = field(repr=False)
    status: np.ndarray = field(repr=False)  #: "ok" / "failed" / "" (missing row), same dims without quantity
    message: np.ndarray = field(repr=False)
    point_key: np.ndarray = field(repr=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, csv_path: str | Path) -> "CharacterizationTable":
        path = Path(csv_path)
        json_path = path.with_suffix(".json")
        if not path.is_file():
            raise TableRangeError(f"characterization table {path} not found: {_FIX}")
        if not json_path.is_file():
            raise TableRangeError(f"provenance file {json_path} (beside the table) not found: {_FIX}")
        check_csv(path)  # the CSV its provenance records, every row physically possible (one line otherwise)
        try:
            df = pd.read_csv(path, keep_default_na=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise TableRangeError(f"{path}: cannot parse as CSV ({str(exc).splitlines()[0]}): {_FIX}") from None
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise TableRangeError(f"{path}: missing column(s) {', '.join(missing)}: {_FIX}")
        if df.empty:
            raise TableRangeError(f"{path}: the table has no rows: {_FIX}")
        try:
            prov = json.loads(json_path.read_text())
            word_size = int(prov["word_size"])
            num_words = int(prov["num_words"] if "num_words" in prov else prov["words"])  # contract: num_words
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TableRangeError(f"{json_path}: malformed provenance ({exc!r}; needs word_size, num_words): {_FIX}") from None
        macros = set(df["macro"].astype(str))
        if len(macros) != 1:
            raise TableRangeError(f"{path}: expected one macro per table, found {sorted(macros)}: {_FIX}")
        macro = macros.pop()
        if str(prov.get("macro", macro)) != macro:
            raise TableRangeError(f"{json_path}: provenance is for macro {prov.get('macro')!r}, table for {macro!r}: {_FIX}")
        bad_ops = sorted(set(df["op"].astype(str)) - set(OPS))
        if bad_ops:
            raise TableRangeError(f"{path}: unknown op(s) {bad_ops} (known: {', '.join(OPS)}): {_FIX}")
        bad_proc = sorted(set(df["process"].astype(str)) - set(PROCESSES))
        if bad_proc:
            raise TableRangeError(f"{path}: unknown process corner(s) {bad_proc}: {_FIX}")
        bad_status = sorted(set(df["status"].astype(str)) - {"ok", "failed"})
        if bad_status:
            raise TableRangeError(f"{path}: status must be ok or failed, found {bad_status}: {_FIX}")
        try:
            for q in QUANTITIES + ("vdd_v", "temp_c"):
                df[q] = pd.to_numeric(df[q], errors="raise").astype(float)
        except (ValueError, TypeError) as exc:
            raise TableRangeError(f"{path}: non-numeric value in a numeric column ({exc}): {_FIX}") from None
        keys = ["process", "vdd_v", "temp_c", "op"]
        dup = df.duplicated(keys)
        if dup.any():
            r = df[dup].iloc[0]
            raise TableRangeError(
                f"{path}: duplicate row for {r['process']} {r['vdd_v']} V {r['temp_c']} C {r['op']}: {_FIX}"
            )
        df["message"] = df["message"].astype(object).where(df["message"].notna(), "").astype(str)
        df["point_key"] = df["point_key"].astype(object).where(df["point_key"].notna(), "").astype(str)
        procs = [p for p in PROCESSES if p in set(df["process"])]
        vdds = np.array(sorted(set(df["vdd_v"])), dtype=float)
        temps = np.array(sorted(set(df["temp_c"])), dtype=float)
        ops = [o for o in OPS if o in set(df["op"])]
        full = pd.MultiIndex.from_product([procs, vdds, temps, ops], names=keys)
        ind = df.set_index(keys).reindex(full)
        shape = (len(procs), len(vdds), len(temps), len(ops))
        data = np.stack([ind[q].to_numpy(float).reshape(shape) for q in QUANTITIES], axis=-1)

        def labelled(col: str) -> np.ndarray:
            c = ind[col].astype(object)
            return c.where(c.notna(), "").astype(str).to_numpy().reshape(shape)

        return cls(
            path=path, macro=macro, word_size=word_size, num_words=num_words, provenance=prov,
            csv_sha256=_sha256(path), json_sha256=_sha256(json_path),
            processes=tuple(procs), vdds=tuple(float(v) for v in vdds), temps=tuple(float(t) for t in temps),
            ops=tuple(ops), data=data,
            status=labelled("status"), message=labelled("message"), point_key=labelled("point_key"),
        )

    def to_xarray(self):
        """The table as a labelled xarray.DataArray (process, vdd_v, temp_c, op, quantity)."""
        import xarray as xr

        return xr.DataArray(self.data, dims=("process", "vdd_v", "temp_c", "op", "quantity"),
                            coords={"process": list(self.processes), "vdd_v": list(self.vdds),
                                    "temp_c": list(self.temps), "op": list(self.ops), "quantity": list(QUANTITIES)})

    # ------------------------------------------------------------------ queries
    def _check_names(self, process: str, op: str, quantity: str) -> None:
        if process not in PROCESSES:
            raise CornerError(f"unknown process corner {process!r}: use one of {', '.join(PROCESSES)}")
        if process not in self.processes:
            raise TableRangeError(
                f"{self.path.name}: process {process!r} was not characterized (have {', '.join(self.processes)}): "
                f"add it to the grid and `make characterize`"
            )
        if op not in OPS:
            raise TableRangeError(f"unknown op {op!r}: use one of {', '.join(OPS)}")
        if op not in self.ops:
            raise TableRangeError(f"{self.path.name}: op {op!r} has no rows in this table: {_FIX}")
        if quantity not in QUANTITIES:
            raise TableRangeError(f"unknown quantity {quantity!r}: use one of {', '.join(QUANTITIES)}")

    def _brackets(self, vdd_v: float, temp_c: float):
        return (_bracket(np.asarray(self.vdds), float(vdd_v), "vdd_v", self.path),
                _bracket(np.asarray(self.temps), float(temp_c), "temp_c", self.path))

    def _interpolate(self, vb, tb, vdd_v: float, temp_c: float, values) -> float:
        return _blend((self.vdds, self.temps), (vb, tb), (float(vdd_v), float(temp_c)),
                      np.asarray(values, dtype=float).reshape(len(vb), len(tb)))

    def _refuse_between(self, process: str, vdd_v: float, temp_c: float, what: str, cells, labels: list[str],
                        ) -> InterpolationRefused:
        """The one-line refusal of a query between grid points ``cells`` [(vdd index, temp index)] that disagree."""
        vdds = " or ".join(f"{v:g}" for v in sorted({self.vdds[i] for i, _ in cells}))
        temps = " or ".join(f"{t:g}" for t in sorted({self.temps[j] for _, j in cells}))
        return InterpolationRefused(
            f"{self.path}: {process} {float(vdd_v):g} V {float(temp_c):g} C lies between grid points that disagree "
            f"on pass/fail{what} ({'; '.join(labels)}); pass/fail is never interpolated: query a grid point "
            f"(--vdd {vdds}, --temp {temps}) or characterize this corner (`cosim characterize --macro {self.macro} "
            f"--process {process} --vdd {float(vdd_v):g} --temp {float(temp_c):g}`)")

    def _check_agree(self, process: str, vdd_v: float, temp_c: float, vb, tb, op: str) -> list[str]:
        """The op's status at the bracketing grid points; between grid points any failed (or missing) one, or two
        that differ, is refused: pass/fail is never interpolated."""
        pi, oi = self.processes.index(process), self.ops.index(op)
        statuses = [str(self.status[pi, i, j, oi]) for i, _ in vb for j, _ in tb]
        if len(statuses) > 1 and (len(set(statuses)) > 1 or statuses[0] != "ok"):
            cells = [(i, j) for i, _ in vb for j, _ in tb]
            where = [f"{process} {self.vdds[i]:g} V {self.temps[j]:g} C: {op} "
                     f"{str(self.status[pi, i, j, oi]) or 'missing'}" for i, j in cells]
            raise self._refuse_between(process, vdd_v, temp_c, f" of {op}", cells, where)
        return statuses

    def lookup(self, process: str, vdd_v: float, temp_c: float, op: str, quantity: str,
               *, allow_failed: bool = False, optional: bool = False) -> Value:
        """The value (exact on grid points, linear in vdd x temp between them) with its source rows.

        Between grid points every neighbour's row must be ``ok`` (pass/fail is never interpolated: otherwise
        :class:`InterpolationRefused`). At a grid point a ``failed`` row is refused unless ``allow_failed`` (its
        counts, e.g. a row_switch row's wrong bits). ``optional``: a failed row or an empty value gives NaN with no
        source rows instead of an error (a figure that is reported where measured, e.g. an access time).
        """
        self._check_names(process, op, quantity)
        vb, tb = self._brackets(vdd_v, temp_c)
        pi, oi, qi = self.processes.index(process), self.ops.index(op), QUANTITIES.index(quantity)
        cells = [(i, wv, j, wt) for i, wv in vb for j, wt in tb]
        for i, _, j, _ in cells:
            if str(self.status[pi, i, j, oi]) == "":
                raise TableRangeError(f"{self.path.name}: no row for {process} {self.vdds[i]:g} V "
                                      f"{self.temps[j]:g} C {op}: {_FIX}")
        statuses = self._check_agree(process, vdd_v, temp_c, vb, tb, op)
        if statuses[0] == "failed":  # a grid point: one row
            if optional:
                return Value(float("nan"), quantity, ())
            if not allow_failed:
                i, j = vb[0][0], tb[0][0]
                msg = str(self.message[pi, i, j, oi]) or "no message"
                raise TableRangeError(f"{self.path.name}: row {process} {self.vdds[i]:g} V {self.temps[j]:g} C {op} "
                                      f"failed in simulation ({msg}): no figure there")
        values = [float(self.data[pi, i, j, oi, qi]) for i, _, j, _ in cells]
        for (i, _, j, _), v in zip(cells, values):
            if math.isnan(v):
                if optional:
                    return Value(float("nan"), quantity, ())
                raise TableRangeError(f"{self.path.name}: row {process} {self.vdds[i]:g} V {self.temps[j]:g} C {op} "
                                      f"has no {quantity} (empty): {_FIX}")
        rows = tuple(RowRef(self.macro, process, self.vdds[i], self.temps[j], op, quantity, wv * wt,
                            str(self.point_key[pi, i, j, oi])) for i, wv, j, wt in cells)
        return Value(self._interpolate(vb, tb, vdd_v, temp_c, values), quantity, rows)

    def clock_floor(self, process: str, vdd_v: float, temp_c: float) -> Value:
        """The shortest clock period the table vouches for: at each grid point max(min_cycle, read_cycle), where
        read_cycle counts only if it found a period (cosim.characterize.retry), then interpolated like
        :meth:`lookup`. Taking the max per grid point first means a neighbour whose reads needed a longer period
        still raises an interpolated corner's floor."""
        base = self.lookup(process, vdd_v, temp_c, "min_cycle", "cycle_time_s")
        if "read_cycle" not in self.ops:  # tables from before the read retry
            return base
        vb, tb = self._brackets(vdd_v, temp_c)
        self._check_agree(process, vdd_v, temp_c, vb, tb, "read_cycle")
        pi, qi = self.processes.index(process), QUANTITIES.index("cycle_time_s")
        mi, ri = self.ops.index("min_cycle"), self.ops.index("read_cycle")
        values, rows = [], list(base.rows)
        for ref in base.rows:
            i, j = self.vdds.index(ref.vdd_v), self.temps.index(ref.temp_c)
            value, floor = float(self.data[pi, i, j, mi, qi]), float(self.data[pi, i, j, ri, qi])
            if str(self.status[pi, i, j, ri]) == "ok" and math.isfinite(floor) and floor > value:
                value = floor
                rows.append(replace(ref, op="read_cycle", point_key=str(self.point_key[pi, i, j, ri])))
            values.append(value)
        return Value(self._interpolate(vb, tb, vdd_v, temp_c, values), "cycle_time_s", tuple(rows))

    def corners(self) -> list[Corner]:
        """The grid points the table holds rows for (a table grown corner by corner need not fill the product of
        its processes, supplies and temperatures)."""
        return [Corner(p, float(v), float(temp)) for pi, p in enumerate(self.processes)
                for vi, v in enumerate(self.vdds) for ti, temp in enumerate(self.temps)
                if any(str(s) != "" for s in self.status[pi, vi, ti])]  # fmt: skip

    def _grid_verdict(self, pi: int, i: int, j: int) -> tuple[str, str, tuple[str, ...]]:
        qi = QUANTITIES.index("cycle_time_s")
        rows = {op: (str(self.status[pi, i, j, oi]), str(self.message[pi, i, j, oi]),
                     float(self.data[pi, i, j, oi, qi])) for oi, op in enumerate(self.ops)}
        return classify_corner(rows)

    def corner_status(self, process: str, vdd_v: float, temp_c: float) -> CornerStatus:
        """Whether the macro can hold a network at this corner (:func:`classify_corner` on its rows). Between grid
        points the neighbours must agree on every pass/fail op (PASS_FAIL_OPS; otherwise
        :class:`InterpolationRefused`); a neighbour whose reads needed the slower read_cycle period makes the
        corner's verdict STATUS_SLOWER_CLOCK."""
        self._check_names(process, "min_cycle", "cycle_time_s")
        vb, tb = self._brackets(vdd_v, temp_c)
        pi = self.processes.index(process)
        corner = Corner(process, float(vdd_v), float(temp_c))
        cells = [(i, j) for i, _ in vb for j, _ in tb]
        verdicts = {(i, j): self._grid_verdict(pi, i, j) for i, j in cells}
        if len(cells) > 1:
            for op in PASS_FAIL_OPS:
                if op not in self.ops:
                    continue
                oi = self.ops.index(op)
                statuses = {str(self.status[pi, i, j, oi]) for i, j in cells}
                if statuses != {"ok"}:
                    where = []
                    for i, j in cells:
                        verdict, _, bad = verdicts[(i, j)]
                        here = str(self.status[pi, i, j, oi]) or "missing"
                        where.append(f"{process} {self.vdds[i]:g} V {self.temps[j]:g} C: {verdict}"
                                     + (f" ({', '.join(bad)} failed)" if bad else f" ({op} {here})"))
                    raise self._refuse_between(process, vdd_v, temp_c, "", cells, where)
            slow = [(i, j) for i, j in cells if verdicts[(i, j)][0] == STATUS_SLOWER_CLOCK]
            status = STATUS_SLOWER_CLOCK if slow else STATUS_OK
            reason = "; ".join(f"at {process} {self.vdds[i]:g} V {self.temps[j]:g} C {verdicts[(i, j)][1]}"
                               for i, j in slow)
            failed: tuple[str, ...] = ()
        else:
            status, reason, failed = verdicts[cells[0]]
        out = CornerStatus(self.macro, self.path, corner, status, reason, failed)
        if not out.usable:
            return out
        return replace(out, min_cycle_s=self.lookup(process, vdd_v, temp_c, "min_cycle", "cycle_time_s").value,
                       clock_floor_s=self.clock_floor(process, vdd_v, temp_c).value)

    def row_switch_hazard(self, process: str, vdd_v: float, temp_c: float) -> tuple[bool | None, tuple[RowRef, ...]]:
        """Does a read right after an access to another row return wrong bits (the row_switch rows' bit_errors > 0;
        a row_switch run that failed without counts counts as yes)? None when the table has no row_switch rows.
        Between grid points it is yes if any neighbour says yes: a yes/no is never blended, and the hazard's hold
        cycles are the safe side."""
        if "row_switch" not in self.ops:
            return None, ()
        self._check_names(process, "row_switch", "bit_errors")
        vb, tb = self._brackets(vdd_v, temp_c)
        pi, oi, qi = self.processes.index(process), self.ops.index("row_switch"), QUANTITIES.index("bit_errors")
        hazard, rows = False, []
        for i, wv in vb:
            for j, wt in tb:
                if str(self.status[pi, i, j, oi]) == "":
                    raise TableRangeError(f"{self.path.name}: no row for {process} {self.vdds[i]:g} V "
                                          f"{self.temps[j]:g} C row_switch: {_FIX}")
                errors = float(self.data[pi, i, j, oi, qi])
                hazard = hazard or not (errors == 0.0)  # nan (no counts) is a yes
                rows.append(RowRef(self.macro, process, self.vdds[i], self.temps[j], "row_switch", "bit_errors",
                                   wv * wt, str(self.point_key[pi, i, j, oi])))
        return hazard, tuple(rows)

    def query(self, process: str, vdd_v: float, temp_c: float, op: str, quantity: str) -> float:
        """The number alone (see :meth:`lookup`)."""
        return self.lookup(process, vdd_v, temp_c, op, quantity).value

    def access_costs(self, corner: Corner) -> "AccessCosts":
        return access_costs(self, corner)


@dataclass(frozen=True)
class AccessCosts:
    """Per-access figures of one macro at one corner, all derived from table rows (see ``sources``).

    Energies are supply energy per clock cycle at the table's clock period ``period_s``; :meth:`at_period` moves them
    to another clock period by adding/removing the leakage energy of the difference (the static part of a cycle).
    """

    macro: str
    corner: Corner
    word_size: int
    num_words: int
    #: E_read(k ones) = read_base_j + k * read_per_one_j;  base = E(read_0), per_one = (E(read_1) - E(read_0)) / W
    read_base_j: float
    read_per_one_j: float
    #: E_write = write_same_j + f01 * write_per_0to1_j + f10 * write_per_1to0_j (f01/f10: bits flipping 0->1 / 1->0)
    write_same_j: float
    write_per_0to1_j: float
    write_per_1to0_j: float
    idle_j: float  #: deselected cycle with the clock running
    leakage_w: float  #: clock stopped
    #: a read of 1: clk0's falling edge (the sense amp fires after it) to dout valid (docs/timing.md; nan if not measured)
    clk_fall_to_dout_rise_s: float
    #: a read of 0 after a 1: clk0's rising edge (the sense amp's reset pulls dout low) to dout valid
    clk_rise_to_dout_fall_s: float
    write_time_s: float  #: clk0's falling edge to the word stored: max over write_0to1 / write_1to0 where measured
    #: shortest clock period the table vouches for: write-then-read returns the right data (op min_cycle) and, where
    #: the main deck's reads needed a longer period than 1.25 x that, no shorter than the period at which they passed
    #: (op read_cycle, cosim.characterize.retry)
    min_cycle_s: float
    period_s: float  #: clock period at which the energies were measured
    #: bit-error rate per bit read = sum(bit_errors) / sum(bits_checked) over the corner's read_0 and read_1 rows,
    #: which passed (a corner whose reads fail at every clock tried is unusable, never a random bit-error rate;
    #: interpolated between grid points like every other figure). With zero errors observed it is 0, and
    #: ``bit_error_rate_upper95`` = 3 / bits_checked (rule of three) says how little that proves.
    bit_error_rate: float
    bits_checked: float
    bit_errors: float
    #: does a read right after an access to another row (no hold cycle) return wrong bits at this corner? From the
    #: row_switch rows (bit_errors > 0 in any row used); None when the table has no row_switch rows. Where True the
    #: memory controller inserts one deselected (idle) hold cycle before every access that changes row.
    row_switch_hazard: bool | None
    words_per_row: int  #: from the table's provenance (1 if absent: then every address change is a row change)
    sources: Mapping[str, tuple[RowRef, ...]] = field(repr=False)
    #: the corner's verdict: STATUS_OK, or STATUS_SLOWER_CLOCK where reads pass only at the read_cycle period
    #: (``min_cycle_s`` is then that period; ``status.min_cycle_s`` the write-then-read minimum cycle)
    status: CornerStatus | None = None

    @property
    def bit_error_rate_upper95(self) -> float:
        if self.bits_checked <= 0:
            return 1.0
        return max(self.bit_errors, 3.0) / self.bits_checked if self.bit_errors == 0 else self.bit_error_rate

    def read_energy_j(self, ones: float | np.ndarray) -> float | np.ndarray:
        return self.read_base_j + ones * self.read_per_one_j

    def write_energy_j(self, f01: float | np.ndarray, f10: float | np.ndarray) -> float | np.ndarray:
        return self.write_same_j + f01 * self.write_per_0to1_j + f10 * self.write_per_1to0_j

    def at_period(self, period_s: float) -> "AccessCosts":
        """The same costs at another clock period: each per-cycle energy shifts by leakage_w * (period - period_s)."""
        d = self.leakage_w * (float(period_s) - self.period_s)
        if d == 0.0:
            return self
        src = dict(self.sources)
        for k in ("read_base_j", "write_same_j", "idle_j"):
            src[k] = tuple(src[k]) + tuple(self.sources["leakage_w"]) + tuple(self.sources["period_s"])
        return replace(self, read_base_j=self.read_base_j + d, write_same_j=self.write_same_j + d,
                       idle_j=self.idle_j + d, period_s=float(period_s), sources=src)

    def sources_dict(self) -> dict[str, list[dict]]:
        return {k: [r.as_dict() for r in v] for k, v in self.sources.items()}


def access_costs(table: CharacterizationTable, corner: Corner) -> AccessCosts:
    """Derive :class:`AccessCosts` for ``corner`` from ``table`` (formulas on the fields). A corner the macro cannot
    be used at (writes fail, reads fail at every clock tried) raises :class:`UnusableCorner`; one between grid
    points that disagree on pass/fail raises :class:`InterpolationRefused`."""
    p, v, t = corner.process, corner.vdd_v, corner.temp_c
    W = table.word_size
    status = table.corner_status(p, v, t)
    if not status.usable:
        raise UnusableCorner(status.line(), status.status, status.reason)

    def q(op: str, quantity: str, optional: bool = False) -> Value:
        return table.lookup(p, v, t, op, quantity, optional=optional)

    # the read rows passed (else the corner is unusable): their counts say how many bits came back wrong (none)
    be = [q(op, "bit_errors") for op in _READS]
    bc = [q(op, "bits_checked") for op in _READS]
    bits_checked = sum(x.value for x in bc)
    bit_errors = sum(x.value for x in be)
    ber = bit_errors / bits_checked if bits_checked > 0 else float("nan")

    r0, r1 = q("read_0", "energy_j"), q("read_1", "energy_j")
    ws, w01, w10 = q("write_same", "energy_j"), q("write_0to1", "energy_j"), q("write_1to0", "energy_j")

    ta0, ta1 = q("read_0", "access_time_s", optional=True), q("read_1", "access_time_s", optional=True)
    # write time: a row can store the right word yet miss a crossing inside its cycle, so it is reported where
    # measured and nan otherwise, like read access
    tw01, tw10 = q("write_0to1", "access_time_s", optional=True), q("write_1to0", "access_time_s", optional=True)
    tmin = table.clock_floor(p, v, t)
    # every per-cycle energy is moved to one reference period (read_0's) by the leakage energy of the difference,
    # so rows measured at different clock periods can be combined (a no-op when they share one period)
    periods = {op: q(op, "period_s") for op in ("read_0", "read_1", "write_same", "write_0to1", "write_1to0", "idle")}
    p_ref = periods["read_0"].value

    def at_ref(op: str, e: Value) -> Value:
        p_op = periods[op]
        if p_op.value == p_ref:
            return e
        return Value(e.value + leak.value * (p_ref - p_op.value), e.quantity, e.rows + p_op.rows + leak.rows)

    idle, leak = q("idle", "energy_j"), q("leakage", "leakage_w")
    r0, r1 = at_ref("read_0", r0), at_ref("read_1", r1)
    ws, w01, w10 = at_ref("write_same", ws), at_ref("write_0to1", w01), at_ref("write_1to0", w10)
    idle = at_ref("idle", idle)
    hazard, hazard_rows = table.row_switch_hazard(p, v, t)
    tw = tw01 if math.isnan(tw10.value) or tw01.value >= tw10.value else tw10
    sources = {
        "read_base_j": r0.rows,
        "read_per_one_j": r0.rows + r1.rows,
        "write_same_j": ws.rows,
        "write_per_0to1_j": ws.rows + w01.rows,
        "write_per_1to0_j": ws.rows + w10.rows,
        "idle_j": idle.rows,
        "leakage_w": leak.rows,
        "clk_fall_to_dout_rise_s": ta1.rows,
        "clk_rise_to_dout_fall_s": ta0.rows,
        "write_time_s": tw01.rows + tw10.rows,
        "min_cycle_s": tmin.rows,
        "period_s": periods["read_0"].rows,
        "bit_error_rate": tuple(r for x in be + bc for r in x.rows),
        "row_switch_hazard": hazard_rows,
    }
    return AccessCosts(
        macro=table.macro, corner=corner, word_size=W, num_words=table.num_words,
        read_base_j=r0.value, read_per_one_j=(r1.value - r0.value) / W,
        write_same_j=ws.value, write_per_0to1_j=(w01.value - ws.value) / W, write_per_1to0_j=(w10.value - ws.value) / W,
        idle_j=idle.value, leakage_w=leak.value,
        clk_fall_to_dout_rise_s=ta1.value, clk_rise_to_dout_fall_s=ta0.value, write_time_s=tw.value, min_cycle_s=tmin.value, period_s=p_ref,
        bit_error_rate=ber, bits_checked=bits_checked, bit_errors=bit_errors, row_switch_hazard=hazard,
        words_per_row=int(table.provenance.get("words_per_row", 1)), sources=sources, status=status,
    )


def table_path(characterization_dir: Path, macro: str) -> Path:
    return Path(characterization_dir) / f"{macro}.csv"
