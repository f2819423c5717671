"""Read a characterization table (``characterization/<macro>.csv`` + ``.json``) and query it.

The table is the only source of SRAM figures in cosim. A query names a process corner, a supply, a temperature, an
operation and a quantity; it returns the value at that grid point exactly, or a bilinear interpolation over
(vdd, temp) between the four surrounding grid points of the same process and op. It never extrapolates: a query
outside the grid raises :class:`~cosim.errors.TableRangeError`. Every value comes back with the rows it was built
from (:class:`RowRef`), so reports can say which simulator runs produced each figure.

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

from cosim.errors import CornerError, TableRangeError
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

    def lookup(self, process: str, vdd_v: float, temp_c: float, op: str, quantity: str,
               *, allow_failed: bool = False, optional: bool = False) -> Value:
        """The value (exact on grid points, bilinear in vdd x temp between them) with its source rows.

        Rows with status ``failed`` (or missing) are refused unless ``allow_failed`` (used for the bit-error counts,
        which a failed read row still carries). ``optional``: a failed row or an empty value gives NaN with no
        source rows instead of an error (a figure that is reported where measured, e.g. an access time).
        """
        self._check_names(process, op, quantity)
        vb = _bracket(np.asarray(self.vdds), float(vdd_v), "vdd_v", self.path)
        tb = _bracket(np.asarray(self.temps), float(temp_c), "temp_c", self.path)
        pi = self.processes.index(process)
        oi = self.ops.index(op)
        qi = QUANTITIES.index(quantity)
        total = 0.0
        rows: list[RowRef] = []
        for i, wv in vb:
            for j, wt in tb:
                w = wv * wt
                status = str(self.status[pi, i, j, oi])
                where = f"{process} {self.vdds[i]:g} V {self.temps[j]:g} C {op}"
                if status == "":
                    raise TableRangeError(f"{self.path.name}: no row for {where}: {_FIX}")
                if optional and (status == "failed" or math.isnan(float(self.data[pi, i, j, oi, qi]))):
                    return Value(float("nan"), quantity, ())
                if status == "failed" and not allow_failed:
                    msg = str(self.message[pi, i, j, oi]) or "no message"
                    raise TableRangeError(f"{self.path.name}: row {where} failed in simulation ({msg}): no figure there")
                v = float(self.data[pi, i, j, oi, qi])
                if math.isnan(v):
                    raise TableRangeError(f"{self.path.name}: row {where} has no {quantity} (empty): {_FIX}")
                total += w * v
                rows.append(RowRef(self.macro, process, self.vdds[i], self.temps[j], op, quantity, w,
                                   str(self.point_key[pi, i, j, oi])))
        if len(rows) == 1:  # an exact grid point is returned exactly, not as 1.0 * v
            total = float(self.data[pi, vb[0][0], tb[0][0], oi, qi])
        return Value(total, quantity, tuple(rows))

    def clock_floor(self, process: str, vdd_v: float, temp_c: float) -> Value:
        """The shortest clock period the table vouches for: at each grid point max(min_cycle, read_cycle), where
        read_cycle counts only if it found a period (cosim.characterize.retry), then interpolated like
        :meth:`lookup`. Taking the max per grid point first means a neighbour whose reads needed a longer period
        still raises an interpolated corner's floor."""
        base = self.lookup(process, vdd_v, temp_c, "min_cycle", "cycle_time_s")
        if "read_cycle" not in self.ops:  # tables from before the read retry
            return base
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
        # an exact grid point is returned exactly, as lookup does
        total = values[0] if len(values) == 1 else sum(r.weight * x for r, x in zip(base.rows, values))
        return Value(total, "cycle_time_s", tuple(rows))

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
    read_access_time_s: float  #: max over the read_0 / read_1 rows that returned the right data (clock edge to the slowest data-out bit; nan if neither did)
    write_time_s: float  #: max over write_0to1 / write_1to0 where measured (nan if neither crossing was)
    #: shortest clock period the table vouches for: write-then-read returns the right data (op min_cycle) and, where
    #: the main deck's reads needed a longer period than 1.25 x that, no shorter than the period at which they passed
    #: (op read_cycle, cosim.characterize.retry)
    min_cycle_s: float
    period_s: float  #: clock period at which the energies were measured
    #: bit-error rate per bit read = sum(bit_errors) / sum(bits_checked) over the corner's read_0 and read_1 rows
    #: (interpolated between grid points like every other figure). With zero errors observed it is 0, and
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
    """Derive :class:`AccessCosts` for ``corner`` from ``table`` (formulas on the fields)."""
    p, v, t = corner.process, corner.vdd_v, corner.temp_c
    W = table.word_size

    def q(op: str, quantity: str, allow_failed: bool = False, optional: bool = False) -> Value:
        return table.lookup(p, v, t, op, quantity, allow_failed=allow_failed, optional=optional)

    # bit errors first: a failed read row still carries its counts
    be = [q(op, "bit_errors", True) for op in ("read_0", "read_1")]
    bc = [q(op, "bits_checked", True) for op in ("read_0", "read_1")]
    bits_checked = sum(x.value for x in bc)
    bit_errors = sum(x.value for x in be)
    ber = bit_errors / bits_checked if bits_checked > 0 else float("nan")

    # a read that returned wrong bits still drew its supply current: its energy is measured (the wrong bits are the
    # bit-error rate above); its access time is not (no correct data-out edge), so it counts only where it exists
    r0, r1 = q("read_0", "energy_j", True), q("read_1", "energy_j", True)
    ws, w01, w10 = q("write_same", "energy_j"), q("write_0to1", "energy_j"), q("write_1to0", "energy_j")

    ta0, ta1 = q("read_0", "access_time_s", optional=True), q("read_1", "access_time_s", optional=True)
    # write time: a row can store the right word yet miss a crossing inside its cycle, so it is reported where
    # measured and nan otherwise, like read access
    tw01, tw10 = q("write_0to1", "access_time_s", optional=True), q("write_1to0", "access_time_s", optional=True)
    tmin = table.clock_floor(p, v, t)
    # every per-cycle energy is moved to one reference period (read_0's) by the leakage energy of the difference,
    # so rows measured at different clock periods can be combined (a no-op when they share one period)
    periods = {op: q(op, "period_s", op.startswith("read")) for op in ("read_0", "read_1", "write_same", "write_0to1",
                                                                        "write_1to0", "idle")}  # fmt: skip
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
    hazard, hazard_rows = None, ()
    if "row_switch" in table.ops:
        try:
            rs = q("row_switch", "bit_errors", True)
            hazard, hazard_rows = bool(rs.value > 0), rs.rows
        except TableRangeError:  # the row_switch run itself failed (no counts): assume the hazard (conservative)
            hazard = True
    ta = ta0 if math.isnan(ta1.value) or ta0.value >= ta1.value else ta1  # nan only when both reads failed
    tw = tw01 if math.isnan(tw10.value) or tw01.value >= tw10.value else tw10
    sources = {
        "read_base_j": r0.rows,
        "read_per_one_j": r0.rows + r1.rows,
        "write_same_j": ws.rows,
        "write_per_0to1_j": ws.rows + w01.rows,
        "write_per_1to0_j": ws.rows + w10.rows,
        "idle_j": idle.rows,
        "leakage_w": leak.rows,
        "read_access_time_s": ta0.rows + ta1.rows,
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
        read_access_time_s=ta.value, write_time_s=tw.value, min_cycle_s=tmin.value, period_s=p_ref,
        bit_error_rate=ber, bits_checked=bits_checked, bit_errors=bit_errors, row_switch_hazard=hazard,
        words_per_row=int(table.provenance.get("words_per_row", 1)), sources=sources,
    )


def table_path(characterization_dir: Path, macro: str) -> Path:
    return Path(characterization_dir) / f"{macro}.csv"
