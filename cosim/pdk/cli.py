"""`cosim pdk`: show where the sky130 models come from; write a reduced model deck."""

from __future__ import annotations

from pathlib import Path

import click

from cosim.config import load_settings


@click.group()
def pdk() -> None:
    """sky130 models: where they come from, reduced decks."""


@pdk.command("show")
def show() -> None:
    """Print the model library and bitcell library in use."""
    from cosim.pdk.sky130 import locate_models

    settings = load_settings()
    models = locate_models(settings)
    click.echo(f"models:   {models.lib_file} ({models.source})")
    click.echo(f"bitcells: {settings.sram_cell_lib or 'not found (set PDK_ROOT)'}")


@pdk.command("deck")
@click.option("--process", required=True, help="process corner: tt ff ss sf fs")
@click.option("--netlist", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False,
              help="take the device list from this netlist (else --device)")
@click.option("--device", multiple=True, help="sky130_fd_pr__* device name (repeatable)")
def deck(process: str, netlist: Path | None, device: tuple[str, ...]) -> None:
    """Write a reduced model deck (only the models the devices need) into the cache; print its path. With
    --netlist, only the size bins its transistors fall in are kept (cosim.pdk.reduce.prune_bins), and only the
    parameters something refers to (prune_params)."""
    from cosim.pdk.reduce import build_reduced_deck, device_sizes, prune_bins, prune_params, write_reduced_deck
    from cosim.pdk.sky130 import locate_models

    settings = load_settings()
    devices = set(device)
    if netlist is not None:
        from cosim.netlist import read_netlist

        devices |= set(read_netlist(netlist).device_models())
    if not devices:
        raise click.UsageError("give --netlist or at least one --device")
    reduced = build_reduced_deck(locate_models(settings), process, devices)
    if netlist is not None:
        text = netlist.read_text()
        reduced = prune_params(prune_bins(reduced, device_sizes(text)), text)
        if reduced.bins_dropped:
            click.echo(f"size bins: {reduced.bins_kept} kept, {reduced.bins_dropped} no transistor of {netlist.name} "
                       "falls in dropped", err=True)  # fmt: skip
        if reduced.params_dropped:
            click.echo(f".param lines: {reduced.params_kept} kept, {reduced.params_dropped} that nothing refers to "
                       "dropped", err=True)  # fmt: skip
    click.echo(write_reduced_deck(reduced, settings.cache_dir))
