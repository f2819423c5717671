"""``cosim netlists``: regenerate netlists/ from openram_configs/ with OpenRAM."""

from __future__ import annotations

from pathlib import Path

import click

from cosim.config import load_settings


@click.command("netlists")
@click.option("--config", "configs", multiple=True, metavar="NAME",
              help="config stem (e.g. sram_8x16) or file name in openram_configs/; repeat for several (default: all)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder (default: netlists/ of the checkout)")
@click.option("--timeout", "timeout_s", type=float, default=None, help="seconds one OpenRAM run may take")
def netlists(configs: tuple[str, ...], out_dir: Path | None, timeout_s: float | None) -> None:
    """Run OpenRAM (netlist only) per config; write <name>.sp and <name>.json."""
    from cosim.openram.generate import DEFAULT_TIMEOUT_S, generate, list_configs
    from cosim.openram.setup import prepare

    settings = load_settings()
    out = out_dir if out_dir is not None else settings.netlists_dir
    env = prepare(settings)
    for config in list_configs(settings.configs_dir, configs):
        g = generate(config, out, settings, env, timeout_s or DEFAULT_TIMEOUT_S)
        click.echo(f"{g.name}: {g.sp_path} ({g.sp_bytes} bytes), {g.json_path.name}; OpenRAM {g.seconds:.1f} s")
