"""`cosim characterize`: the PVT sweep of the committed macros into characterization/<macro>.csv/.json."""

from __future__ import annotations

from pathlib import Path

import click

from cosim.config import load_settings


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


@click.command()
@click.option("--macro", "macros", multiple=True, help="macro name (netlists/<name>.sp); repeatable; default: all")
@click.option("--process", default=",".join(("tt", "ff", "ss", "sf", "fs")), show_default=True, help="comma list")
@click.option("--vdd", default="1.6,1.8,1.95", show_default=True, help="supplies (V), comma list")
@click.option("--temp", default="-40,25,125", show_default=True, help="temperatures (C), comma list")
@click.option("--jobs", default=2, show_default=True, help="parallel ngspice processes")
@click.option("--backend", type=click.Choice(["loky", "dask"]), default="loky", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (with --backend dask); default: a local cluster")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder (default: characterization/)")
def characterize(macros, process, vdd, temp, jobs, backend, scheduler, out) -> None:
    """Simulate every macro at every corner with ngspice and write the lookup tables."""
    from cosim.characterize.sweep import Grid, sweep_macro

    settings = load_settings()
    grid = Grid(tuple(p.strip() for p in process.split(",") if p.strip()), _floats(vdd), _floats(temp))
    names = macros or tuple(sorted(p.stem for p in settings.netlists_dir.glob("*.sp")))
    for name in names:
        sp = settings.netlists_dir / f"{name}.sp"
        if not sp.is_file():
            raise click.BadParameter(f"no netlist {sp}; run 'make netlists' or pick one of netlists/*.sp", param_hint="--macro")
        outcome = sweep_macro(sp, settings, grid, out_dir=out, jobs=jobs, backend=backend, scheduler=scheduler)
        click.echo(
            f"{name}: {outcome.points} corners ({outcome.simulated} simulated now, the rest cached), "
            f"{outcome.failed_rows} failed rows, {outcome.wall_s:.0f} s -> {outcome.csv_path}"
        )
