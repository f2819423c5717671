"""`cosim characterize`: the PVT sweep of the committed macros into characterization/<macro>.csv/.json."""

from __future__ import annotations

from pathlib import Path

import click

from cosim.config import load_settings
from cosim.errors import SweepIncomplete


def _floats(text: str, option: str) -> tuple[float, ...]:
    """A comma list of numbers, or a one-line usage error naming the option."""
    items = [x.strip() for x in text.split(",")]
    if not any(items):
        raise click.BadParameter("give at least one value, e.g. 1.6,1.8,1.95", param_hint=option)
    try:
        return tuple(float(x) for x in items if x)
    except ValueError:
        bad = next(x for x in items if x and not _is_number(x))
        raise click.BadParameter(f"{bad!r} is not a number (write a comma list such as 1.6,1.8)", param_hint=option) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@click.command()
@click.option("--macro", "macros", multiple=True, help="macro name (netlists/<name>.sp); repeatable; default: all")
@click.option("--process", default=",".join(("tt", "ff", "ss", "sf", "fs")), show_default=True,
              help="process corners (tt, ff, ss, sf, fs), comma list")
@click.option("--vdd", default="1.6,1.8,1.95", show_default=True, help="supplies (V), comma list")
@click.option("--temp", default="-40,25,125", show_default=True, help="temperatures (C), comma list")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1), help="parallel ngspice processes")
@click.option("--backend", type=click.Choice(["loky", "dask"]), default="loky", show_default=True,
              help="where the corners run: loky (local worker processes) or dask (a Dask cluster: --scheduler; needs "
                   "the dask extra)")
@click.option("--scheduler", default=None, help="Dask scheduler address (with --backend dask); default: a local cluster")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder (default: characterization/); --monte-carlo writes its montecarlo/ folder (its clocks still come from the characterization/ table)")
@click.option("--monte-carlo", "monte_carlo", is_flag=True,
              help="instead of the sweep: local-mismatch Monte Carlo at corners the macro's table holds (at the "
                   "table's clock; --process/--vdd/--temp not given take the table's values) -> "
                   "characterization/montecarlo/<macro>.csv/.json, bit-error rates per op (docs/monte-carlo.md)")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="with --monte-carlo: samples per corner (each is word_size columns)  [default: 8]")
@click.option("--seed", type=click.IntRange(1, 2**31 - 1), default=None,
              help="with --monte-carlo: the run seed; sample i draws from a hash of it and i  [default: 1]")
@click.option("--trim", type=click.Choice(["no", "yes", "auto"]), default="auto", show_default=True,
              help="fold the storage array (accessed rows kept, every other row of a column simulated as one "
                   "mult=N cell; auto: where that removes >= 25 % of the cell instances); no: the full netlist")
@click.option("--reuse-table/--no-reuse-table", default=True, show_default=True,
              help="take a corner from the table on disk when it was made by the same simulation (same point key: "
                   "decks, netlist, models, ngspice, options, measurement version: docs/characterization-store.md); "
                   "--no-reuse-table simulates every corner anew")
@click.option("--fold-bits/--no-fold-bits", default=True, show_default=True,
              help="with a folded array, also fold the alike bit slices (one slice per data class, its devices times "
                   "N; cosim/characterize/bitfold.py): the storage-folded netlist's numbers, 2-3x faster")
@click.option("--fold-rows/--no-fold-rows", default=True, show_default=True,
              help="with the bit slices folded, also fold the alike word-line rows (decoder gate, driver, replica "
                   "cell; one row per class, its devices times N; cosim/characterize/rowfold.py)")
def characterize(macros, process, vdd, temp, jobs, backend, scheduler, out, monte_carlo, samples, seed, trim,
                 reuse_table, fold_bits, fold_rows) -> None:  # fmt: skip
    """Simulate every macro at every corner with ngspice and write the lookup tables.

    The table of a macro keeps growing: the grid asked for is added to the corners it already holds, corners are
    written in as they finish, and an interrupted sweep resumes from the point cache and from the table.
    --monte-carlo writes the bit-error table beside it instead, the same way."""
    from cosim.characterize.sweep import Grid, sweep_macro

    settings = load_settings()
    grid = Grid(tuple(p.strip() for p in process.split(",") if p.strip()), _floats(vdd, "--vdd"), _floats(temp, "--temp"))
    names = macros or tuple(sorted(p.stem for p in settings.netlists_dir.glob("*.sp")))
    if monte_carlo:
        ctx = click.get_current_context()
        given = {name: ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
                 for name in ("process", "vdd", "temp")}  # fmt: skip
        axes = (grid.processes if given["process"] else None, grid.vdds_v if given["vdd"] else None,
                grid.temps_c if given["temp"] else None)  # fmt: skip
        _monte_carlo(settings, names, axes, samples or 8, seed or 1, out, jobs, backend, reuse_table)
        return
    if samples is not None or seed is not None:
        raise click.UsageError("--samples and --seed go with --monte-carlo")
    not_simulated: list[str] = []
    for name in names:
        sp = _netlist(settings, name)
        outcome = sweep_macro(sp, settings, grid, out_dir=out, jobs=jobs, backend=backend, scheduler=scheduler,
                               trim={'no': False, 'yes': True, 'auto': None}[trim], reuse_table=reuse_table, fold_bits=fold_bits,
                               fold_rows=fold_rows)  # fmt: skip
        not_simulated += [f"{name} {corner} ({why})" for corner, why in outcome.not_simulated]
        click.echo(
            f"{name}: {outcome.points} corners ({outcome.simulated} simulated now, the rest from the cache or the "
            f"table), {outcome.read_retries} with read retries ({outcome.read_retries_simulated} simulated now), "
            f"{outcome.failed_rows} failed rows, {outcome.wall_s:.0f} s -> "
            + (str(outcome.csv_path) if outcome.written else f"{outcome.csv_path} (unchanged)")
        )
    if not_simulated:
        raise SweepIncomplete(f"{len(not_simulated)} corner(s) not simulated (simulator faults, nothing of them stored): "
                              + "; ".join(not_simulated))


def _netlist(settings, name: str) -> Path:
    sp = settings.netlists_dir / f"{name}.sp"
    if not sp.is_file():
        raise click.BadParameter(f"no netlist {sp}; run 'make netlists' or pick one of netlists/*.sp", param_hint="--macro")
    return sp


def _monte_carlo(settings, names, axes, samples, seed, out, jobs, backend, reuse_table) -> None:
    from cosim.characterize.mc_table import monte_carlo_table

    if backend != "loky":
        raise click.UsageError("--monte-carlo runs its samples locally (loky): leave out --backend")
    not_simulated: list[str] = []
    for name in names:
        o = monte_carlo_table(_netlist(settings, name), settings, samples, seed, processes=axes[0], vdds=axes[1], temps=axes[2],
                              out_dir=out, jobs=jobs, reuse_table=reuse_table)  # fmt: skip
        not_simulated += [f"{name} {corner} ({why})" for corner, why in o.not_simulated]
        click.echo(f"{name}: Monte Carlo table holds {o.corners} corners ({o.kept} kept as they were; "
                   f"{o.simulated_samples} samples simulated now, {o.cached_samples} from the sample cache), "
                   f"{o.wall_s:.0f} s -> " + (str(o.csv_path) if o.written else f"{o.csv_path} (unchanged)"))
    if not_simulated:
        raise SweepIncomplete(f"{len(not_simulated)} corner(s) not simulated (simulator faults, nothing of them "
                              "stored): " + "; ".join(not_simulated))  # fmt: skip


def _table_option(f):
    return click.option("--table", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="characterization CSV (default: characterization/<macro>.csv)")(f)  # fmt: skip


@click.command()
@click.option("--macro", required=True, help="macro name (netlists/<name>.json gives its pins)")
@_table_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out/liberty"),
              show_default=True, help="output folder")  # fmt: skip
@click.option("--timing", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="timing table from `cosim characterize-arcs` (default: timing/<macro>.csv beside the table)")
def liberty(macro, table, out, timing) -> None:
    """Write one Liberty .lib per corner of a macro's characterization table (measured values only)."""
    from cosim.characterize.liberty import export_liberty
    from cosim.netlist import load_macro_json

    settings = load_settings()
    m = load_macro_json(settings.netlists_dir / f"{macro}.json")
    paths = export_liberty(table or settings.characterization_dir / f"{macro}.csv", m, out, timing_csv=timing,
                           cell_lib=settings.sram_cell_lib)
    click.echo(f"{macro}: {len(paths)} corner libraries -> {out}")


@click.command("report-characterization")
@click.option("--macro", required=True, help="macro name")
@_table_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out/report/characterization"),
              show_default=True, help="output folder")  # fmt: skip
def report_characterization(macro, table, out) -> None:
    """PNG plots of a macro's characterization table: access time and energy vs VDD, corner heatmaps."""
    from cosim.characterize.plots import plot_characterization

    settings = load_settings()
    paths = plot_characterization(table or settings.characterization_dir / f"{macro}.csv", out, macro=macro)
    for p in paths:
        click.echo(str(p))


@click.group()
def report() -> None:
    """Reports: `cosim report characterization` plots the tables, `cosim report monte-carlo` the bit-error tables
    (the inference report is `cosim infer`)."""


@click.command("report-monte-carlo")
@click.option("--macro", required=True, help="macro name")
@click.option("--table", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="bit-error CSV (default: characterization/montecarlo/<macro>.csv)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out/report/monte-carlo"),
              show_default=True, help="output folder")  # fmt: skip
def report_monte_carlo(macro, table, out) -> None:
    """PNG of a macro's bit-error table: failures per bit vs VDD per process, with intervals (log axis); and the
    supply at which each process and temperature reaches a failure rate per bit (cell and sense amp) of 1e-6
    and 1e-3."""
    from cosim.characterize.mc_plots import plot_monte_carlo
    from cosim.characterize.mc_table import mc_table_path
    from cosim.montecarlo_table import BerTable

    settings = load_settings()
    path = table or mc_table_path(settings.characterization_dir, macro)
    click.echo(str(plot_monte_carlo(path, out)))
    ber = BerTable.load(path)
    for process, temp in sorted({(c.process, c.temp_c) for c in ber.corners()}):
        parts = []
        for target in (1e-6, 1e-3):
            vdd, how = ber.vdd_at_rate(process, temp, target)
            parts.append(f"{target:g} at {vdd:.3f} V ({how})" if vdd == vdd else f"{target:g}: {how}")
        click.echo(f"  {process} {temp:g} C: worst failure rate per bit " + "; ".join(parts))


report.add_command(report_characterization, name="characterization")
report.add_command(report_monte_carlo, name="monte-carlo")


@click.command("characterize-arcs")
@click.option("--macro", "macros", multiple=True, help="macro name (netlists/<name>.sp); repeatable; default: all")
@click.option("--corner", "corners", multiple=True, default=("tt/1.8/25",), show_default=True,
              help="process/vdd/temp to characterize the arcs at; repeatable")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="characterization folder (default: characterization/); the table goes to its timing/ folder")
@click.option("--reuse-table/--no-reuse-table", default=True, show_default=True,
              help="keep a corner whose key the timing table already holds")
def characterize_arcs(macros, corners, out, reuse_table) -> None:
    """Timing arcs for Liberty: clk->dout and dout transition over 3 loads x 3 input slews, clock insertion delay,
    input pin capacitances, setup/hold of the input flop (docs/timing.md) -> characterization/timing/<macro>.csv."""
    from cosim.characterize.arcs_table import characterize_arcs_table
    from cosim.characterize.sweep import sweep_setup
    from cosim.netlist import load_macro
    from cosim.types import Corner

    settings = load_settings()
    parsed = [Corner.parse(c) for c in corners]
    names = macros or tuple(sorted(p.stem for p in settings.netlists_dir.glob("*.sp")))
    for name in names:
        sp = settings.netlists_dir / f"{name}.sp"
        if not sp.is_file():
            raise click.BadParameter(f"no netlist {sp}; pick one of netlists/*.sp", param_hint="--macro")
        setup = sweep_setup(load_macro(sp), settings, sorted({c.process for c in parsed}))
        outcome = characterize_arcs_table(setup, parsed, out or settings.characterization_dir, reuse=reuse_table,
                                          run_dir=settings.cache_dir / "runs" / name / "arcs")
        click.echo(f"{name}: arcs at {len(outcome.simulated)} corner(s) simulated, {len(outcome.reused)} kept, "
                   f"{outcome.wall_s:.0f} s -> {outcome.csv_path}")
